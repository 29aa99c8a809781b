// Package template_test checks that template.yaml declares the same tables
// as keyway bootstrap: keys, GSIs, stream views and TTL.
package template_test

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"gopkg.in/yaml.v3"

	"github.com/keywayhq/keyway/infra/dynamo"
)

// plain turns a YAML node into maps, slices and strings, dropping
// CloudFormation tags (!Ref, !Sub, !GetAtt) but keeping their values.
func plain(n *yaml.Node) any {
	switch n.Kind {
	case yaml.DocumentNode:
		return plain(n.Content[0])
	case yaml.MappingNode:
		m := map[string]any{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			m[n.Content[i].Value] = plain(n.Content[i+1])
		}
		return m
	case yaml.SequenceNode:
		var s []any
		for _, c := range n.Content {
			s = append(s, plain(c))
		}
		return s
	case yaml.AliasNode:
		return plain(n.Alias)
	}
	if strings.HasPrefix(n.Tag, "!") && !strings.HasPrefix(n.Tag, "!!") {
		return n.Tag + " " + n.Value
	}
	return n.Value
}

func loadTemplate(t *testing.T) map[string]any {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "template.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	return plain(&doc).(map[string]any)
}

func get(v any, path ...string) any {
	for _, p := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[p]
	}
	return v
}

func keys(v any) string {
	var out []string
	for _, k := range v.([]any) {
		out = append(out, fmt.Sprintf("%v:%v", get(k, "AttributeName"), get(k, "KeyType")))
	}
	return strings.Join(out, ",")
}

func attrs(v any) string {
	var out []string
	for _, a := range v.([]any) {
		out = append(out, fmt.Sprintf("%v:%v", get(a, "AttributeName"), get(a, "AttributeType")))
	}
	sort.Strings(out)
	return strings.Join(out, ",")
}

// describe renders a CreateTableInput in the same notation.
func describe(in *dynamodb.CreateTableInput) (key, defs string, gsis map[string]string, stream string) {
	var ks []string
	for _, k := range in.KeySchema {
		ks = append(ks, fmt.Sprintf("%s:%s", *k.AttributeName, k.KeyType))
	}
	var ds []string
	for _, d := range in.AttributeDefinitions {
		ds = append(ds, fmt.Sprintf("%s:%s", *d.AttributeName, d.AttributeType))
	}
	sort.Strings(ds)
	gsis = map[string]string{}
	for _, g := range in.GlobalSecondaryIndexes {
		var gk []string
		for _, k := range g.KeySchema {
			gk = append(gk, fmt.Sprintf("%s:%s", *k.AttributeName, k.KeyType))
		}
		gsis[*g.IndexName] = strings.Join(gk, ",") + "/" + string(g.Projection.ProjectionType)
	}
	if in.StreamSpecification != nil && *in.StreamSpecification.StreamEnabled {
		stream = string(in.StreamSpecification.StreamViewType)
	}
	return strings.Join(ks, ","), strings.Join(ds, ","), gsis, stream
}

func TestTemplateTablesMatchBootstrap(t *testing.T) {
	tpl := loadTemplate(t)
	resources := get(tpl, "Resources").(map[string]any)
	inputs := dynamo.TableInputs(dynamo.DefaultTables())
	for i, logical := range []string{"EventsTable", "StateTable"} {
		t.Run(logical, func(t *testing.T) {
			props := get(resources, logical, "Properties")
			if get(resources, logical, "Type") != "AWS::DynamoDB::Table" || props == nil {
				t.Fatalf("%s is not a DynamoDB table", logical)
			}
			key, defs, gsis, stream := describe(inputs[i])
			if got := keys(get(props, "KeySchema")); got != key {
				t.Errorf("KeySchema %s, bootstrap %s", got, key)
			}
			if got := attrs(get(props, "AttributeDefinitions")); got != defs {
				t.Errorf("AttributeDefinitions %s, bootstrap %s", got, defs)
			}
			tplGSIs := map[string]string{}
			for _, g := range get(props, "GlobalSecondaryIndexes").([]any) {
				tplGSIs[get(g, "IndexName").(string)] = keys(get(g, "KeySchema")) + "/" + get(g, "Projection", "ProjectionType").(string)
			}
			if fmt.Sprint(tplGSIs) != fmt.Sprint(gsis) {
				t.Errorf("GSIs %v, bootstrap %v", tplGSIs, gsis)
			}
			if got := get(props, "StreamSpecification", "StreamViewType"); got != stream {
				t.Errorf("stream view %v, bootstrap %v", got, stream)
			}
			if get(props, "BillingMode") != string(inputs[i].BillingMode) {
				t.Errorf("billing %v, bootstrap %v", get(props, "BillingMode"), inputs[i].BillingMode)
			}
			if get(props, "PointInTimeRecoverySpecification", "PointInTimeRecoveryEnabled") != "true" {
				t.Error("point-in-time recovery is off")
			}
		})
	}
	ttl := get(resources, "StateTable", "Properties", "TimeToLiveSpecification")
	if get(ttl, "AttributeName") != dynamo.TTLAttribute || get(ttl, "Enabled") != "true" {
		t.Errorf("state table TTL %v, bootstrap enables %q", ttl, dynamo.TTLAttribute)
	}
	if get(resources, "EventsTable", "Properties", "TimeToLiveSpecification") != nil {
		t.Error("the event log must not expire")
	}
}

func TestTemplateFunction(t *testing.T) {
	fn := get(loadTemplate(t), "Resources", "ApiFunction", "Properties")
	if get(fn, "Runtime") != "provided.al2023" || fmt.Sprint(get(fn, "Architectures")) != "[arm64]" || get(fn, "CodeUri") != "bin/api/" || get(fn, "Handler") != "bootstrap" {
		t.Fatalf("function %v", fn)
	}
	vars := get(fn, "Environment", "Variables")
	if get(vars, dynamo.EventsTableEnv) != "!Ref EventsTable" || get(vars, dynamo.StateTableEnv) != "!Ref StateTable" || get(vars, "KEYWAY_STORE") != "dynamodb" ||
		get(vars, "KEYWAY_KEY_ENCRYPTION_KEY_SECRET") != "!Ref KeyEncryptionKeySecret" {
		t.Fatalf("function environment %v", vars)
	}
	for _, pol := range get(fn, "Policies").([]any) {
		for _, st := range get(pol, "Statement").([]any) {
			for _, a := range get(st, "Action").([]any) {
				if strings.Contains(a.(string), "*") || !(strings.HasPrefix(a.(string), "dynamodb:") || a == "secretsmanager:GetSecretValue") {
					t.Errorf("action %v is not least privilege", a)
				}
			}
			for _, r := range get(st, "Resource").([]any) {
				if s := r.(string); strings.Contains(s, "*") && !strings.HasSuffix(s, "/index/*") {
					t.Errorf("resource %v is a wildcard", r)
				}
			}
		}
	}
}
