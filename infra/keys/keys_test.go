package keys

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"math/big"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/oklog/ulid/v2"
)

const testIssuer = "https://auth.example.test/user_management/client_01HZZZZZZZZZZZZZZZZZZZZZZZ"

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func genKey(t *testing.T, now time.Time) Key {
	t.Helper()
	k, err := Generate(rand.Reader, now)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func testClaims(iat time.Time, ttl time.Duration) Claims {
	return Claims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    testIssuer,
			Subject:   "user_01HXYZABCDEFGHJKMNPQRSTVWX",
			ID:        ulid.MustNew(ulid.Timestamp(iat), rand.Reader).String(),
			IssuedAt:  jwt.NewNumericDate(iat),
			ExpiresAt: jwt.NewNumericDate(iat.Add(ttl)),
		},
		SessionID:      "session_01HXYZABCDEFGHJKMNPQRSTVWX",
		OrganizationID: "org_01HXYZABCDEFGHJKMNPQRSTVWX",
		Role:           "admin",
		Roles:          []string{"admin"},
		Permissions:    []string{"posts:read", "posts:write"},
	}
}

func mustSign(t *testing.T, r *Ring, c Claims) string {
	t.Helper()
	s, err := r.Sign(c)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// craft signs claims with an arbitrary method and key, bypassing Ring.Sign.
func craft(t *testing.T, m jwt.SigningMethod, key any, kid string, c jwt.Claims) string {
	t.Helper()
	tok := jwt.NewWithClaims(m, c)
	if kid != "" {
		tok.Header["kid"] = kid
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestThumbprintRFC7638(t *testing.T) {
	// RFC 7638 §3.1 example.
	n, err := base64.RawURLEncoding.DecodeString("0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw")
	if err != nil {
		t.Fatal(err)
	}
	pub := &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: 65537}
	if got, want := Thumbprint(pub), "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"; got != want {
		t.Fatalf("Thumbprint = %q, want %q", got, want)
	}
	if got, want := KeyID(pub), "NzbLsXh8uDCcd-6M"; got != want {
		t.Fatalf("KeyID = %q, want %q", got, want)
	}
}

func TestGenerate(t *testing.T) {
	k := genKey(t, t0)
	if bits := k.Private.N.BitLen(); bits != 2048 {
		t.Fatalf("key is %d bits", bits)
	}
	if k.ID != KeyID(&k.Private.PublicKey) || len(k.ID) != 16 {
		t.Fatalf("kid %q does not match the thumbprint", k.ID)
	}
	if !k.CreatedAt.Equal(t0) || !k.RetireAt.IsZero() {
		t.Fatalf("CreatedAt=%v RetireAt=%v", k.CreatedAt, k.RetireAt)
	}
}

func TestVerify(t *testing.T) {
	k := genKey(t, t0)
	ring := NewRing(k)
	// An attacker's key that claims the same kid.
	evil := genKey(t, t0)
	evil.ID = k.ID
	evilRing := NewRing(evil)

	pubDER, err := x509.MarshalPKIXPublicKey(&k.Private.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER})
	pkcs1PEM := pem.EncodeToMemory(&pem.Block{Type: "RSA PUBLIC KEY", Bytes: x509.MarshalPKCS1PublicKey(&k.Private.PublicKey)})

	fresh := testClaims(t0, 5*time.Minute)
	freshToken := mustSign(t, ring, fresh)

	tampered := func() string {
		parts := strings.Split(freshToken, ".")
		payload, err := base64.RawURLEncoding.DecodeString(parts[1])
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		if err := json.Unmarshal(payload, &m); err != nil {
			t.Fatal(err)
		}
		m["sub"] = "user_01HATTACKERATTACKERATTACK"
		m["role"] = "owner"
		b, _ := json.Marshal(m)
		parts[1] = base64.RawURLEncoding.EncodeToString(b)
		return strings.Join(parts, ".")
	}()

	noExp := fresh
	noExp.ExpiresAt = nil

	tests := []struct {
		name    string
		token   string
		at      time.Time
		issuer  string
		wantErr error // nil = accept
	}{
		{name: "fresh token", token: freshToken, at: t0.Add(time.Minute)},
		{name: "at iat", token: freshToken, at: t0},
		{name: "expired within leeway", token: freshToken, at: t0.Add(5*time.Minute + 20*time.Second)},
		{name: "expired", token: freshToken, at: t0.Add(5*time.Minute + Leeway + time.Second), wantErr: jwt.ErrTokenExpired},
		{name: "iat in the future beyond leeway", token: freshToken, at: t0.Add(-Leeway - time.Second), wantErr: jwt.ErrTokenUsedBeforeIssued},
		{name: "nbf in the future", token: func() string {
			c := fresh
			c.NotBefore = jwt.NewNumericDate(t0.Add(2 * time.Minute))
			return mustSign(t, ring, c)
		}(), at: t0.Add(time.Minute), wantErr: jwt.ErrTokenNotValidYet},
		{name: "alg none", token: craft(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, k.ID, fresh), at: t0, wantErr: jwt.ErrTokenSignatureInvalid},
		{name: "alg none, empty signature, header forged by hand", token: func() string {
			h := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"JWT","kid":"` + k.ID + `"}`))
			return h + "." + strings.Split(freshToken, ".")[1] + "."
		}(), at: t0, wantErr: jwt.ErrTokenSignatureInvalid},
		{name: "HS256 keyed with public key PEM", token: craft(t, jwt.SigningMethodHS256, pubPEM, k.ID, fresh), at: t0, wantErr: jwt.ErrTokenSignatureInvalid},
		{name: "HS256 keyed with PKCS#1 PEM", token: craft(t, jwt.SigningMethodHS256, pkcs1PEM, k.ID, fresh), at: t0, wantErr: jwt.ErrTokenSignatureInvalid},
		{name: "HS256 keyed with public key DER", token: craft(t, jwt.SigningMethodHS256, pubDER, k.ID, fresh), at: t0, wantErr: jwt.ErrTokenSignatureInvalid},
		{name: "RS512 with the right key", token: craft(t, jwt.SigningMethodRS512, k.Private, k.ID, fresh), at: t0, wantErr: jwt.ErrTokenSignatureInvalid},
		{name: "PS256 with the right key", token: craft(t, jwt.SigningMethodPS256, k.Private, k.ID, fresh), at: t0, wantErr: jwt.ErrTokenSignatureInvalid},
		{name: "unknown kid", token: craft(t, jwt.SigningMethodRS256, k.Private, "not-a-published-kid", fresh), at: t0, wantErr: ErrUnknownKey},
		{name: "missing kid", token: craft(t, jwt.SigningMethodRS256, k.Private, "", fresh), at: t0, wantErr: ErrUnknownKey},
		{name: "tampered payload", token: tampered, at: t0, wantErr: jwt.ErrTokenSignatureInvalid},
		{name: "different RSA key, same kid", token: mustSign(t, evilRing, fresh), at: t0, wantErr: jwt.ErrTokenSignatureInvalid},
		{name: "wrong issuer", token: freshToken, at: t0, issuer: "https://api.workos.com", wantErr: jwt.ErrTokenInvalidIssuer},
		{name: "missing exp", token: craft(t, jwt.SigningMethodRS256, k.Private, k.ID, noExp), at: t0, wantErr: jwt.ErrTokenRequiredClaimMissing},
		{name: "garbage", token: "not.a.jwt", at: t0, wantErr: jwt.ErrTokenMalformed},
		{name: "empty", token: "", at: t0, wantErr: jwt.ErrTokenMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			iss := tt.issuer
			if iss == "" {
				iss = testIssuer
			}
			got, err := ring.Verify(tt.token, tt.at, iss)
			if tt.wantErr == nil {
				if err != nil {
					t.Fatalf("Verify: %v", err)
				}
				if got.Subject != fresh.Subject || got.SessionID != fresh.SessionID || got.ID != fresh.ID ||
					got.OrganizationID != fresh.OrganizationID || strings.Join(got.Permissions, ",") != "posts:read,posts:write" {
					t.Fatalf("claims = %+v", got)
				}
				return
			}
			if err == nil {
				t.Fatalf("Verify accepted the token, want %v", tt.wantErr)
			}
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Verify error = %v, want %v", err, tt.wantErr)
			}
			t.Logf("rejected: %v", err)
		})
	}

	if _, err := ring.Verify(freshToken, t0, ""); err == nil {
		t.Fatal("Verify with an empty expected issuer must fail")
	}
}

func TestRotation(t *testing.T) {
	const ttl = 10 * time.Minute
	k1 := genKey(t, t0)
	ring := NewRing(k1)
	tok1 := mustSign(t, ring, testClaims(t0, ttl))
	// A token living longer than tokenTTL, to show the key itself stops being
	// accepted at RetireAt (not merely that the token expired).
	long := mustSign(t, ring, testClaims(t0, time.Hour))

	t1 := t0.Add(2 * time.Minute)
	k2 := genKey(t, t1)
	ring.Rotate(k2, t1, ttl)
	retireAt := t1.Add(ttl)

	cur, _ := ring.Current()
	if cur.ID != k2.ID {
		t.Fatalf("current = %s, want %s", cur.ID, k2.ID)
	}
	ks := ring.Keys()
	if len(ks) != 2 || ks[1].ID != k1.ID || !ks[1].RetireAt.Equal(retireAt) || !ks[0].RetireAt.IsZero() {
		t.Fatalf("keys after rotation = %+v", ks)
	}
	tok2 := mustSign(t, ring, testClaims(t1, ttl))
	if kid := headerKID(t, tok2); kid != k2.ID {
		t.Fatalf("new token kid = %s, want %s", kid, k2.ID)
	}

	steps := []struct {
		name    string
		token   string
		at      time.Time
		wantErr error
	}{
		{"old-key token after rotation", tok1, t1.Add(time.Minute), nil},
		{"new-key token", tok2, t1.Add(time.Minute), nil},
		{"old key just before RetireAt", long, retireAt.Add(-time.Second), nil},
		{"old key at RetireAt", long, retireAt, ErrUnknownKey},
		{"old key after RetireAt", long, retireAt.Add(time.Minute), ErrUnknownKey},
		{"new key after old retired", tok2, retireAt.Add(-time.Minute), nil},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			_, err := ring.Verify(s.token, s.at, testIssuer)
			if s.wantErr == nil && err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if s.wantErr != nil && !errors.Is(err, s.wantErr) {
				t.Fatalf("Verify error = %v, want %v", err, s.wantErr)
			}
		})
	}

	if n := len(jwksKeys(t, ring.JWKS(retireAt.Add(-time.Second)))); n != 2 {
		t.Fatalf("JWKS before RetireAt has %d keys, want 2", n)
	}
	if got := jwksKeys(t, ring.JWKS(retireAt)); len(got) != 1 || got[0]["kid"] != k2.ID {
		t.Fatalf("JWKS at RetireAt = %v, want only %s", got, k2.ID)
	}

	// The next rotation drops k1 for good and retires k2.
	t2 := retireAt.Add(time.Second)
	k3 := genKey(t, t2)
	ring.Rotate(k3, t2, ttl)
	ks = ring.Keys()
	if len(ks) != 2 || ks[0].ID != k3.ID || ks[1].ID != k2.ID || !ks[1].RetireAt.Equal(t2.Add(ttl)) {
		t.Fatalf("keys after second rotation = %+v", ks)
	}
	if got := jwksKeys(t, ring.JWKS(t2)); len(got) != 2 || got[0]["kid"] != k3.ID || got[1]["kid"] != k2.ID {
		t.Fatalf("JWKS order = %v, want current first", got)
	}
}

func headerKID(t *testing.T, token string) string {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(strings.Split(token, ".")[0])
	if err != nil {
		t.Fatal(err)
	}
	var h map[string]any
	if err := json.Unmarshal(b, &h); err != nil {
		t.Fatal(err)
	}
	if len(h) != 3 || h["alg"] != "RS256" || h["typ"] != "JWT" {
		t.Fatalf("header = %v, want exactly {alg:RS256,typ:JWT,kid}", h)
	}
	kid, _ := h["kid"].(string)
	return kid
}

func jwksKeys(t *testing.T, doc []byte) []map[string]string {
	t.Helper()
	var set struct {
		Keys []map[string]string `json:"keys"`
	}
	if err := json.Unmarshal(doc, &set); err != nil {
		t.Fatalf("JWKS %s: %v", doc, err)
	}
	return set.Keys
}

// TestJWKSIndependentVerifier verifies tokens using nothing but the JWKS JSON,
// the way a relying party (jose in the WorkOS SDK) does.
func TestJWKSIndependentVerifier(t *testing.T) {
	k1 := genKey(t, t0)
	ring := NewRing(k1)
	tok1 := mustSign(t, ring, testClaims(t0, 10*time.Minute))
	ring.Rotate(genKey(t, t0), t0.Add(time.Minute), 10*time.Minute)
	tok2 := mustSign(t, ring, testClaims(t0.Add(time.Minute), 10*time.Minute))

	doc := ring.JWKS(t0.Add(2 * time.Minute))
	if empty := (&Ring{}).JWKS(t0); string(empty) != `{"keys":[]}` {
		t.Fatalf("empty JWKS = %s", empty)
	}
	keys := jwksKeys(t, doc)
	if len(keys) != 2 {
		t.Fatalf("JWKS has %d keys: %s", len(keys), doc)
	}
	pubs := map[string]*rsa.PublicKey{}
	for _, jwk := range keys {
		if len(jwk) != 6 || jwk["alg"] != "RS256" || jwk["kty"] != "RSA" || jwk["use"] != "sig" || jwk["kid"] == "" {
			t.Fatalf("JWK = %v", jwk)
		}
		for _, f := range []string{"n", "e"} {
			if strings.ContainsAny(jwk[f], "=+/") {
				t.Fatalf("%s is not unpadded base64url: %q", f, jwk[f])
			}
		}
		nb, err := base64.RawURLEncoding.DecodeString(jwk["n"])
		if err != nil {
			t.Fatal(err)
		}
		eb, err := base64.RawURLEncoding.DecodeString(jwk["e"])
		if err != nil {
			t.Fatal(err)
		}
		if jwk["e"] != "AQAB" || nb[0] == 0 {
			t.Fatalf("e=%q, n has leading zero=%v", jwk["e"], nb[0] == 0)
		}
		pub := &rsa.PublicKey{N: new(big.Int).SetBytes(nb), E: int(new(big.Int).SetBytes(eb).Int64())}
		if pub.N.BitLen() != 2048 {
			t.Fatalf("n is %d bits", pub.N.BitLen())
		}
		// kid is the RFC 7638 thumbprint prefix, recomputed here independently.
		sum := sha256.Sum256([]byte(`{"e":"` + jwk["e"] + `","kty":"RSA","n":"` + jwk["n"] + `"}`))
		if tp := base64.RawURLEncoding.EncodeToString(sum[:]); !strings.HasPrefix(tp, jwk["kid"]) {
			t.Fatalf("kid %q is not a prefix of thumbprint %q", jwk["kid"], tp)
		}
		pubs[jwk["kid"]] = pub
	}

	for i, tok := range []string{tok1, tok2} {
		parsed, err := jwt.Parse(tok, func(tk *jwt.Token) (any, error) {
			kid, _ := tk.Header["kid"].(string)
			if p, ok := pubs[kid]; ok {
				return p, nil
			}
			return nil, errors.New("kid not in JWKS")
		}, jwt.WithValidMethods([]string{"RS256"}), jwt.WithTimeFunc(func() time.Time { return t0.Add(2 * time.Minute) }))
		if err != nil {
			t.Fatalf("token %d does not verify against the JWKS: %v", i+1, err)
		}
		m := parsed.Claims.(jwt.MapClaims)
		for _, claim := range []string{"iss", "sub", "sid", "jti", "org_id", "role", "roles", "permissions", "exp", "iat"} {
			if _, ok := m[claim]; !ok {
				t.Fatalf("token %d lacks claim %q: %v", i+1, claim, m)
			}
		}
		if _, err := ulid.ParseStrict(m["jti"].(string)); err != nil {
			t.Fatalf("jti %v is not a bare ULID", m["jti"])
		}
	}
}

func TestSignClaims(t *testing.T) {
	ring := NewRing(genKey(t, t0))
	if _, err := (&Ring{}).Sign(testClaims(t0, time.Minute)); !errors.Is(err, ErrNoCurrentKey) {
		t.Fatalf("empty ring Sign error = %v", err)
	}
	tests := []struct {
		name string
		edit func(*Claims)
	}{
		{"no iss", func(c *Claims) { c.Issuer = "" }},
		{"no sub", func(c *Claims) { c.Subject = "" }},
		{"no sid", func(c *Claims) { c.SessionID = "" }},
		{"no exp", func(c *Claims) { c.ExpiresAt = nil }},
		{"no iat", func(c *Claims) { c.IssuedAt = nil }},
		{"exp before iat", func(c *Claims) { c.ExpiresAt = jwt.NewNumericDate(t0.Add(-time.Second)) }},
		{"no jti", func(c *Claims) { c.ID = "" }},
		{"prefixed jti", func(c *Claims) { c.ID = "session_" + c.ID }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := testClaims(t0, time.Minute)
			tt.edit(&c)
			if _, err := ring.Sign(c); !errors.Is(err, ErrClaims) {
				t.Fatalf("Sign error = %v, want ErrClaims", err)
			}
		})
	}

	c := testClaims(t0, time.Minute)
	c.Permissions, c.Roles, c.OrganizationID = nil, nil, ""
	c.Actor = &Actor{Subject: "admin@example.test"}
	tok := mustSign(t, ring, c)
	payload, _ := base64.RawURLEncoding.DecodeString(strings.Split(tok, ".")[1])
	var m map[string]any
	if err := json.Unmarshal(payload, &m); err != nil {
		t.Fatal(err)
	}
	if p, ok := m["permissions"].([]any); !ok || len(p) != 0 {
		t.Fatalf("permissions = %#v, want []", m["permissions"])
	}
	for _, absent := range []string{"org_id", "roles", "entitlements", "feature_flags", "nbf", "aud"} {
		if _, ok := m[absent]; ok {
			t.Fatalf("claim %q should be omitted: %s", absent, payload)
		}
	}
	if act, _ := m["act"].(map[string]any); act["sub"] != "admin@example.test" {
		t.Fatalf("act = %v", m["act"])
	}
	got, err := ring.Verify(tok, t0, testIssuer)
	if err != nil || got.Actor == nil || got.Actor.Subject != "admin@example.test" {
		t.Fatalf("Verify = %+v, %v", got, err)
	}
}

func TestConcurrentRotateSignVerify(t *testing.T) {
	keys := []Key{genKey(t, t0), genKey(t, t0)}
	ring := NewRing(keys[0])
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 20 {
				if g == 0 && i%5 == 0 {
					ring.Rotate(keys[(i/5)%2], t0, time.Hour)
					continue
				}
				tok, err := ring.Sign(testClaims(t0, time.Minute))
				if err != nil {
					t.Error(err)
					return
				}
				if _, err := ring.Verify(tok, t0, testIssuer); err != nil {
					t.Error(err)
					return
				}
				_ = ring.JWKS(t0)
			}
		}()
	}
	wg.Wait()
}
