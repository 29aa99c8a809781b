package apigw_test

import (
	"context"
	"encoding/base64"
	"io"
	"net/http"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/keywayhq/keyway/infra/apigw"
)

func TestRoundTrip(t *testing.T) {
	var got *http.Request
	var gotBody string
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r
		b, _ := io.ReadAll(r.Body)
		gotBody = string(b)
		w.Header().Add("Set-Cookie", "a=1")
		w.Header().Add("Set-Cookie", "b=2")
		w.Header().Set("X-Request-ID", "req_1")
		w.WriteHeader(http.StatusCreated)
		_, _ = w.Write([]byte{0xff, 0x00})
	})
	ev := events.APIGatewayV2HTTPRequest{
		RawPath: "/user_management/users/external_id/a%2Fb", RawQueryString: "limit=5&order=asc",
		Headers: map[string]string{"authorization": "Bearer sk_test_x", "content-type": "application/json"},
		Cookies: []string{"c=3", "d=4"},
		Body:    base64.StdEncoding.EncodeToString([]byte(`{"email":"a@b.co"}`)), IsBase64Encoded: true,
		RequestContext: events.APIGatewayV2HTTPRequestContext{DomainName: "api.example.com",
			HTTP: events.APIGatewayV2HTTPRequestContextHTTPDescription{Method: "POST", SourceIP: "203.0.113.9"}},
	}
	resp, err := apigw.Handler(h)(context.Background(), ev)
	if err != nil {
		t.Fatal(err)
	}
	if got.Method != "POST" || got.URL.EscapedPath() != "/user_management/users/external_id/a%2Fb" || got.URL.Query().Get("limit") != "5" {
		t.Errorf("request line: %s %s", got.Method, got.URL)
	}
	if got.Header.Get("Authorization") != "Bearer sk_test_x" || got.Header.Get("Cookie") != "c=3; d=4" || got.Host != "api.example.com" {
		t.Errorf("headers: %v host %q", got.Header, got.Host)
	}
	if gotBody != `{"email":"a@b.co"}` || got.RemoteAddr != "203.0.113.9:0" {
		t.Errorf("body %q remote %q", gotBody, got.RemoteAddr)
	}
	if resp.StatusCode != 201 || resp.Headers["X-Request-Id"] != "req_1" || len(resp.Cookies) != 2 {
		t.Errorf("response: %+v", resp)
	}
	if b, _ := base64.StdEncoding.DecodeString(resp.Body); !resp.IsBase64Encoded || string(b) != "\xff\x00" {
		t.Errorf("binary body not base64: %+v", resp)
	}
}

func TestBadBodyIsA400(t *testing.T) {
	resp, err := apigw.Handler(http.NotFoundHandler())(context.Background(), events.APIGatewayV2HTTPRequest{Body: "!!", IsBase64Encoded: true})
	if err != nil || resp.StatusCode != 400 {
		t.Fatalf("got %+v, %v", resp, err)
	}
}
