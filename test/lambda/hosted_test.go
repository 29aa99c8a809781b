package lambda_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/keywayhq/keyway/test/peers"
)

const callbackURI = "https://app.example.com/callback"

// lambdaBrowser sends API Gateway events as a browser would over HTTPS:
// it keeps the cookies the function sets and sends forms base64-encoded,
// as API Gateway delivers them.
type lambdaBrowser struct {
	t       *testing.T
	p       *peers.Peer
	cookies map[string]*http.Cookie
}

func (b *lambdaBrowser) do(method, path, query string, form url.Values) events.APIGatewayV2HTTPResponse {
	b.t.Helper()
	ev := events.APIGatewayV2HTTPRequest{
		Version: "2.0", RouteKey: "$default", RawPath: path, RawQueryString: query,
		Headers: map[string]string{"user-agent": "Mozilla/5.0 (lambda test)", "x-forwarded-proto": "https", "sec-fetch-site": "same-origin",
			"host": "abc.execute-api.us-east-1.amazonaws.com"},
		RequestContext: events.APIGatewayV2HTTPRequestContext{
			DomainName: "abc.execute-api.us-east-1.amazonaws.com", RequestID: "apigw-req", Stage: "$default",
			HTTP: events.APIGatewayV2HTTPRequestContextHTTPDescription{Method: method, Path: path, SourceIP: "198.51.100.7"},
		},
	}
	for _, c := range b.cookies {
		ev.Cookies = append(ev.Cookies, c.Name+"="+c.Value)
	}
	if form != nil {
		ev.Headers["content-type"] = "application/x-www-form-urlencoded"
		ev.Body, ev.IsBase64Encoded = base64.StdEncoding.EncodeToString([]byte(form.Encode())), true
	}
	payload, _ := json.Marshal(ev)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	raw, err := b.p.Invoke(ctx, payload)
	if err != nil {
		b.t.Fatalf("invoke %s %s: %v\n%s", method, path, err, b.p.Output())
	}
	var resp events.APIGatewayV2HTTPResponse
	if err := json.Unmarshal(raw, &resp); err != nil || resp.StatusCode == 0 {
		b.t.Fatalf("invoke %s %s: %s", method, path, raw)
	}
	if resp.IsBase64Encoded {
		body, _ := base64.StdEncoding.DecodeString(resp.Body)
		resp.Body = string(body)
	}
	for _, line := range resp.Cookies {
		c, err := http.ParseSetCookie(line)
		if err != nil {
			b.t.Fatalf("Set-Cookie %q: %v", line, err)
		}
		if !c.Secure || !c.HttpOnly || c.SameSite != http.SameSiteLaxMode {
			b.t.Fatalf("cookie %q over HTTPS is not Secure, HttpOnly and SameSite=Lax", line)
		}
		if c.MaxAge < 0 {
			delete(b.cookies, c.Name)
		} else {
			b.cookies[c.Name] = c
		}
	}
	return resp
}

var hiddenRE = regexp.MustCompile(`<input type="hidden" name="([a-z_]+)" value="([^"]*)">`)

// hidden reads a page's hidden form fields (the sealed flow, state and CSRF token).
func hidden(t *testing.T, page string) url.Values {
	t.Helper()
	v := url.Values{}
	for _, m := range hiddenRE.FindAllStringSubmatch(page, -1) {
		v.Set(m[1], strings.ReplaceAll(m[2], "&amp;", "&"))
	}
	if v.Get("csrf") == "" {
		t.Fatalf("no csrf field in:\n%s", page)
	}
	return v
}

// TestHostedSignInOverLambda signs in on the hosted pages through API
// Gateway events: cookies travel in the events' cookies fields, forms
// arrive base64-encoded, and every cookie is Secure behind HTTPS.
func TestHostedSignInOverLambda(t *testing.T) {
	p := rie(t, append(embeddedEnv(t), "KEYWAY_REDIRECT_URIS="+callbackURI))
	if r := invoke(t, p, "POST", "/user_management/users", "", apiKey,
		`{"email":"hosted@example.com","password":"a long and careful passphrase","email_verified":true}`); r.StatusCode != 201 {
		t.Fatalf("create user: %d %s", r.StatusCode, r.Body)
	}
	b := &lambdaBrowser{t: t, p: p, cookies: map[string]*http.Cookie{}}
	q := url.Values{"client_id": {clientID}, "redirect_uri": {callbackURI}, "provider": {"authkit"}, "state": {"s1"}}
	if r := b.do("GET", "/user_management/authorize", url.Values{"client_id": {clientID}, "redirect_uri": {"https://evil.example/cb"}, "provider": {"authkit"}}.Encode(), nil); r.StatusCode != 400 || r.Headers["Location"] != "" {
		t.Fatalf("unregistered redirect_uri: %d %v", r.StatusCode, r.Headers)
	}
	r := b.do("GET", "/user_management/authorize", q.Encode(), nil)
	loc, _ := url.Parse(r.Headers["Location"])
	if r.StatusCode != 302 || loc == nil || loc.Path != "/authkit/sign-in" {
		t.Fatalf("authorize: %d %v", r.StatusCode, r.Headers)
	}
	page := b.do("GET", loc.Path, loc.RawQuery, nil)
	if page.StatusCode != 200 || !strings.Contains(page.Headers["Content-Security-Policy"], "form-action 'self' https://app.example.com") {
		t.Fatalf("sign-in page: %d %v", page.StatusCode, page.Headers)
	}
	form := hidden(t, page.Body)
	form.Set("email", "hosted@example.com")
	page = b.do("POST", "/authkit/sign-in", "", form)
	if page.StatusCode != 200 || !strings.Contains(page.Body, `name="password"`) {
		t.Fatalf("email step: %d %s", page.StatusCode, page.Body)
	}
	form = hidden(t, page.Body)
	form.Set("password", "a long and careful passphrase")
	r = b.do("POST", "/authkit/password", "", form)
	done, _ := url.Parse(r.Headers["Location"])
	if r.StatusCode != 303 || done == nil || !strings.HasPrefix(r.Headers["Location"], callbackURI+"?") || done.Query().Get("state") != "s1" || b.cookies["keyway_session"] == nil {
		t.Fatalf("password step: %d %v %v", r.StatusCode, r.Headers, b.cookies)
	}
	body, _ := json.Marshal(map[string]string{"grant_type": "authorization_code", "client_id": clientID, "client_secret": apiKey, "code": done.Query().Get("code")})
	if r := invoke(t, p, "POST", "/user_management/authenticate", "", apiKey, string(body)); r.StatusCode != 200 || !strings.Contains(r.Body, `"access_token"`) {
		t.Fatalf("exchange: %d %s", r.StatusCode, r.Body)
	}
	// The hosted session answers the next authorize at once.
	q.Set("state", "s2")
	if r := b.do("GET", "/user_management/authorize", q.Encode(), nil); r.StatusCode != 302 || !strings.HasPrefix(r.Headers["Location"], callbackURI+"?code=") {
		t.Fatalf("second authorize: %d %v", r.StatusCode, r.Headers)
	}
}
