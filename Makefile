# Keyway. `make run` serves locally on the embedded store; `make test` runs
# every test, installing the peers it needs first.
SHELL := /bin/bash
GO ?= go
GOFLAGS_TEST ?= -count=1 -timeout 30m

.PHONY: run build lambda peers test unit lint cfn-lint localstack-check bench bootstrap localstack-up localstack-down deploy-local clean

run:
	$(GO) run ./cmd/keyway serve

build: bin/keyway lambda

bin/keyway: FORCE
	$(GO) build -trimpath -o bin/keyway ./cmd/keyway

# The Lambda bootstrap, as template.yaml expects it (provided.al2023, arm64).
lambda:
	CGO_ENABLED=0 GOOS=linux GOARCH=arm64 $(GO) build -tags lambda.norpc -trimpath -ldflags '-s -w' -o bin/api/bootstrap ./functions/api

peers:
	bash scripts/install-peers.sh

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

cfn-lint:
	cfn-lint template.yaml

localstack-check:
	bash scripts/localstack-init-check.sh

unit:
	$(GO) test $(GOFLAGS_TEST) ./domain/... ./events/... ./app/... ./api/...

test: peers lint cfn-lint localstack-check lambda
	$(GO) test $(GOFLAGS_TEST) ./...

# Benchmarks: store append/load per operation, HTTP user throughput on the
# server, membership listing cost per call, password sign-in throughput
# against the argon2id limit, refresh, Magic Auth and a returning browser's
# hosted sign-in (authorize from the hosted session + code exchange) with
# requests per call, and the Lambda cold start and binary size under
# aws-lambda-rie. The hosted pages' weight comes from test/browser
# (test/browser/artifacts/page-weight.json).
bench: peers
	$(GO) test -run '^$$' -bench . -benchmem -benchtime 2000x ./events/memstore/ ./infra/bolt/
	$(GO) test -run '^$$' -bench . -benchmem -benchtime 300x ./infra/dynamo/
	$(GO) test -run '^$$' -bench . -benchmem -benchtime 3000x ./test/serve/
	$(GO) test -run '^$$' -bench List -benchmem -benchtime 300x ./test/bench/
	$(GO) test -run '^$$' -bench 'Argon2id|Auth' -benchmem -benchtime 40x ./test/bench/
	$(GO) test -run '^$$' -bench . -benchtime 5x ./test/lambda/

bootstrap:
	$(GO) run ./cmd/keyway bootstrap

# LocalStack needs Docker; see README.md.
localstack-up:
	docker compose -f localstack/docker-compose.yml up -d --wait

localstack-down:
	docker compose -f localstack/docker-compose.yml down

deploy-local: lambda
	samlocal deploy --template-file template.yaml --stack-name keyway-$${ENVIRONMENT:-staging} \
		--parameter-overrides Environment=$${ENVIRONMENT:-staging} --capabilities CAPABILITY_IAM --resolve-s3 --no-confirm-changeset

clean:
	rm -rf bin .keyway

FORCE:
