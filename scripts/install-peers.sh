#!/usr/bin/env bash
# Installs the local peers Keyway's tests run against (see docs: local peers):
#   - DynamoDB Local (jar shipped inside an npm package)  -> .cache/dynamodb-local/
#   - aws-lambda-rie, built from source with go install    -> .cache/bin/aws-lambda-rie
#   - the Node test dependencies (npm ci)                  -> test/node_modules/
#   - the example app's dependencies (npm ci)              -> examples/authkit-node/node_modules/
#   - Debian's chromium and fonts-dejavu-core (apt), for the browser tests
#     (test/browser drives /usr/bin/chromium with playwright-core)
# and checks the tools the machine image provides (java, pyenv python3 + moto,
# cfn-lint, aws). Idempotent and fast when everything is already there.
#
# Environment:
#   KEYWAY_CACHE_DIR   cache folder (default: <repo>/.cache)
#   KEYWAY_SKIP_NPM=1  skip npm ci in test/ and examples/authkit-node/
set -euo pipefail

DDB_SIM_VERSION="2.9.30" # amplify-dynamodb-simulator, ships DynamoDB Local 1.25.1
# The emulator repo has no semver tags that the module proxy accepts, so pin a commit.
RIE_VERSION="v0.0.0-20261030222936-bef5c4ba774d"

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="${KEYWAY_CACHE_DIR:-$ROOT/.cache}"
mkdir -p "$CACHE/bin"

log() { printf 'install-peers: %s\n' "$*" >&2; }
die() { printf 'install-peers: ERROR: %s\n' "$*" >&2; exit 1; }

APT_UPDATED=0
apt_install() {
	if ! command -v apt-get >/dev/null 2>&1; then
		return 1
	fi
	local sudo=""
	if [ "$(id -u)" -ne 0 ]; then
		command -v sudo >/dev/null 2>&1 || return 1
		sudo="sudo"
	fi
	if [ "$APT_UPDATED" -eq 0 ]; then
		log "apt-get update"
		$sudo apt-get -o DPkg::Lock::Timeout=600 update -qq >/dev/null
		APT_UPDATED=1
	fi
	log "apt-get install -y $*"
	# Wait for another apt or dpkg (an image's own install, say) instead of failing.
	DEBIAN_FRONTEND=noninteractive $sudo apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "$@" >/dev/null
}

# ---------------------------------------------------------------- .gitignore
ensure_gitignore() {
	local gi="$ROOT/.gitignore" line
	touch "$gi"
	for line in '.cache/' '.keyway/' 'bin/' 'test/node_modules/' '*.test' '/bootstrap' 'coverage*'; do
		grep -qxF -- "$line" "$gi" || printf '%s\n' "$line" >>"$gi"
	done
}

# ---------------------------------------------------------------- tools in the image
check_java() {
	if ! command -v java >/dev/null 2>&1; then
		log "java not found; installing Debian's default-jre-headless"
		apt_install default-jre-headless || die "java is missing and could not be installed (apt-get install default-jre-headless)"
	fi
	command -v java >/dev/null 2>&1 || die "java still not on PATH"
}

python_bin() {
	local p=""
	if command -v pyenv >/dev/null 2>&1; then
		p="$(pyenv which python3 2>/dev/null || true)"
	fi
	if [ -z "$p" ]; then
		p="$(command -v python3 || true)"
	fi
	printf '%s' "$p"
}

check_python() {
	local py
	py="$(python_bin)"
	[ -n "$py" ] || die "python3 not found (expected the pyenv Python that ships moto)"
	if ! "$py" -c 'import moto, moto.server' >/dev/null 2>&1; then
		die "$py cannot 'import moto.server'. The machine image's pyenv Python ships moto 5.x with server extras; PyPI is not reachable, so use that interpreter (pyenv which python3)."
	fi
}

check_cfn_lint() {
	if ! command -v cfn-lint >/dev/null 2>&1; then
		die "cfn-lint not found on PATH (it comes with the image's pyenv Python; Debian has no package for it)"
	fi
}

check_aws() {
	if ! command -v aws >/dev/null 2>&1; then
		log "aws CLI not found; installing Debian's awscli"
		apt_install awscli || die "aws CLI is missing and could not be installed"
	fi
}

# ---------------------------------------------------------------- DynamoDB Local
install_dynamodb_local() {
	local dest="$CACHE/dynamodb-local" stamp="$CACHE/dynamodb-local/.version"
	if [ -f "$dest/DynamoDBLocal.jar" ] && [ -d "$dest/DynamoDBLocal_lib" ] &&
		[ "$(cat "$stamp" 2>/dev/null || true)" = "$DDB_SIM_VERSION" ]; then
		return 0
	fi
	command -v npm >/dev/null 2>&1 || die "npm is required to fetch DynamoDB Local"
	log "fetching DynamoDB Local (amplify-dynamodb-simulator@$DDB_SIM_VERSION)"
	local tmp
	tmp="$(mktemp -d)"
	(
		cd "$tmp"
		npm pack --silent "amplify-dynamodb-simulator@$DDB_SIM_VERSION" >/dev/null
		tar xzf "amplify-dynamodb-simulator-$DDB_SIM_VERSION.tgz" package/emulator
	) || {
		rm -rf "$tmp"
		die "could not fetch amplify-dynamodb-simulator@$DDB_SIM_VERSION"
	}
	rm -rf "$dest"
	mv "$tmp/package/emulator" "$dest"
	rm -rf "$tmp"
	[ -f "$dest/DynamoDBLocal.jar" ] || die "DynamoDBLocal.jar missing after unpack"
	printf '%s\n' "$DDB_SIM_VERSION" >"$stamp"
}

# ---------------------------------------------------------------- aws-lambda-rie
install_rie() {
	local bin="$CACHE/bin/aws-lambda-rie" stamp="$CACHE/bin/aws-lambda-rie.version"
	if [ -x "$bin" ] && [ "$(cat "$stamp" 2>/dev/null || true)" = "$RIE_VERSION" ]; then
		return 0
	fi
	command -v go >/dev/null 2>&1 || die "go is required to build aws-lambda-rie"
	log "building aws-lambda-rie@$RIE_VERSION"
	GOBIN="$CACHE/bin" go install \
		"github.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie@$RIE_VERSION"
	[ -x "$bin" ] || die "aws-lambda-rie not built"
	printf '%s\n' "$RIE_VERSION" >"$stamp"
}

# ---------------------------------------------------------------- chromium
# Debian's chromium, which playwright-core drives (browser downloads fail
# here), and a font so that screenshots are readable.
CHROMIUM="/usr/bin/chromium"
DEJAVU="/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
install_chromium() {
	local need=()
	[ -x "$CHROMIUM" ] || need+=(chromium)
	[ -f "$DEJAVU" ] || need+=(fonts-dejavu-core)
	[ "${#need[@]}" -eq 0 ] && return 0
	apt_install "${need[@]}" || die "could not install ${need[*]} (apt-get install -y ${need[*]}); the browser tests need $CHROMIUM"
	[ -x "$CHROMIUM" ] || die "$CHROMIUM still missing after apt-get install chromium"
}

# ---------------------------------------------------------------- npm ci
# npm_ci DIR runs npm ci in DIR when its lockfile or package.json is newer
# than what node_modules holds.
npm_ci() {
	[ "${KEYWAY_SKIP_NPM:-0}" = "1" ] && return 0
	local dir="$1"
	[ -f "$dir/package-lock.json" ] || return 0
	local marker="$dir/node_modules/.package-lock.json"
	if [ -f "$marker" ] && [ ! "$dir/package-lock.json" -nt "$marker" ] && [ ! "$dir/package.json" -nt "$marker" ]; then
		return 0
	fi
	command -v npm >/dev/null 2>&1 || die "npm is required for ${dir#"$ROOT"/} (node 20+)"
	log "npm ci in ${dir#"$ROOT"/}/"
	(cd "$dir" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
	touch "$marker"
}

install_node_modules() {
	npm_ci "$ROOT/test"
	npm_ci "$ROOT/examples/authkit-node"
}

main() {
	ensure_gitignore
	check_java
	check_python
	check_cfn_lint
	check_aws
	install_dynamodb_local
	install_rie
	install_node_modules
	install_chromium
	log "ok ($CACHE)"
}

main "$@"
