package dnstest_test

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/keywayhq/keyway/test/dnstest"
)

func start(t *testing.T) *dnstest.Server {
	t.Helper()
	srv, err := dnstest.Start()
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() { srv.Close() })
	return srv
}

// query sends one question to srv over network ("udp" or "tcp").
func query(t *testing.T, srv *dnstest.Server, network, name string, qtype uint16) *dns.Msg {
	t.Helper()
	c := &dns.Client{Net: network, Timeout: 2 * time.Second}
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), qtype)
	resp, _, err := c.Exchange(m, srv.Addr())
	if err != nil {
		t.Fatalf("exchange %s %s over %s: %v", name, dns.TypeToString[qtype], network, err)
	}
	return resp
}

// txtOf returns each TXT answer's strings joined.
func txtOf(t *testing.T, resp *dns.Msg) []string {
	t.Helper()
	var out []string
	for _, rr := range resp.Answer {
		txt, ok := rr.(*dns.TXT)
		if !ok {
			t.Fatalf("unexpected answer %v", rr)
		}
		out = append(out, strings.Join(txt.Txt, ""))
	}
	slices.Sort(out)
	return out
}

func wantRcode(t *testing.T, resp *dns.Msg, rcode int) {
	t.Helper()
	if resp.Rcode != rcode {
		t.Fatalf("rcode = %s, want %s", dns.RcodeToString[resp.Rcode], dns.RcodeToString[rcode])
	}
}

func TestAddrIsLoopbackWithPort(t *testing.T) {
	srv := start(t)
	host, port, err := net.SplitHostPort(srv.Addr())
	if err != nil || host != "127.0.0.1" || port == "0" || port == "" {
		t.Fatalf("Addr() = %q", srv.Addr())
	}
}

func TestTXTOverUDPAndTCP(t *testing.T) {
	srv := start(t)
	srv.SetTXT("example.com", "b", "a")

	for _, network := range []string{"udp", "tcp"} {
		resp := query(t, srv, network, "example.com", dns.TypeTXT)
		wantRcode(t, resp, dns.RcodeSuccess)
		if !resp.Authoritative {
			t.Errorf("%s: answer not authoritative", network)
		}
		if got, want := txtOf(t, resp), []string{"a", "b"}; !slices.Equal(got, want) {
			t.Errorf("%s: got %q, want %q", network, got, want)
		}
	}
}

func TestNamesAreCaseInsensitiveWithOptionalDot(t *testing.T) {
	srv := start(t)
	srv.SetTXT("MiXeD.Example.com.", "v")

	for _, name := range []string{"mixed.example.com", "MIXED.EXAMPLE.COM."} {
		resp := query(t, srv, "udp", name, dns.TypeTXT)
		if got := txtOf(t, resp); !slices.Equal(got, []string{"v"}) {
			t.Errorf("%s: got %q", name, got)
		}
	}
	srv.DeleteTXT("MIXED.example.COM")
	wantRcode(t, query(t, srv, "udp", "mixed.example.com", dns.TypeTXT), dns.RcodeNameError)
}

func TestSetTXTReplaces(t *testing.T) {
	srv := start(t)
	srv.SetTXT("example.com", "one", "two")
	srv.SetTXT("example.com", "three")

	if got := txtOf(t, query(t, srv, "udp", "example.com", dns.TypeTXT)); !slices.Equal(got, []string{"three"}) {
		t.Fatalf("got %q, want [three]", got)
	}
}

func TestLongValueIsSplitIntoStrings(t *testing.T) {
	srv := start(t)
	long := strings.Repeat("a", 600)
	srv.SetTXT("long.example.com", long)

	resp := query(t, srv, "tcp", "long.example.com", dns.TypeTXT) // over 512 bytes
	if len(resp.Answer) != 1 {
		t.Fatalf("got %d answers, want 1", len(resp.Answer))
	}
	txt := resp.Answer[0].(*dns.TXT)
	if len(txt.Txt) != 3 || len(txt.Txt[0]) != 255 || strings.Join(txt.Txt, "") != long {
		t.Fatalf("got strings of lengths %v", lens(txt.Txt))
	}
}

func lens(s []string) []int {
	var n []int
	for _, x := range s {
		n = append(n, len(x))
	}
	return n
}

func TestSetTXTRecordsMultiString(t *testing.T) {
	srv := start(t)
	srv.SetTXTRecords("multi.example.com", []string{"part1", "part2"}, []string{"solo"})

	resp := query(t, srv, "udp", "multi.example.com", dns.TypeTXT)
	var got [][]string
	for _, rr := range resp.Answer {
		got = append(got, rr.(*dns.TXT).Txt)
	}
	slices.SortFunc(got, func(a, b []string) int { return len(b) - len(a) })
	if len(got) != 2 || !slices.Equal(got[0], []string{"part1", "part2"}) || !slices.Equal(got[1], []string{"solo"}) {
		t.Fatalf("got %q", got)
	}
}

func TestBackslashAndQuoteSurviveTheWire(t *testing.T) {
	srv := start(t)
	value := `a\b"c`
	srv.SetTXT("esc.example.com", value)

	// miekg's client presents TXT data escaped; check the raw bytes instead.
	resp := query(t, srv, "udp", "esc.example.com", dns.TypeTXT)
	wire, err := resp.Pack()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(wire), "\x05"+value) {
		t.Fatalf("wire form does not contain the raw string %q", value)
	}
}

func TestUnknownNameIsNXDOMAIN(t *testing.T) {
	srv := start(t)
	srv.SetTXT("example.com", "x")

	resp := query(t, srv, "udp", "other.example.org", dns.TypeTXT)
	wantRcode(t, resp, dns.RcodeNameError)
	if len(resp.Answer) != 0 {
		t.Fatalf("NXDOMAIN with answers: %v", resp.Answer)
	}
}

func TestKnownNameWithoutTXTIsNODATA(t *testing.T) {
	srv := start(t)
	srv.SetA("www.example.com", "192.0.2.1")

	resp := query(t, srv, "udp", "www.example.com", dns.TypeTXT)
	wantRcode(t, resp, dns.RcodeSuccess)
	if len(resp.Answer) != 0 {
		t.Fatalf("want no answers, got %v", resp.Answer)
	}
}

func TestEmptyNonTerminalIsNODATA(t *testing.T) {
	srv := start(t)
	srv.SetTXT("_keyway.sub.example.com", "x")

	for _, name := range []string{"sub.example.com", "example.com", "com"} {
		resp := query(t, srv, "udp", name, dns.TypeTXT)
		wantRcode(t, resp, dns.RcodeSuccess)
		if len(resp.Answer) != 0 {
			t.Fatalf("%s: want no answers, got %v", name, resp.Answer)
		}
	}
	// A sibling that merely shares a suffix is not a descendant.
	wantRcode(t, query(t, srv, "udp", "ub.example.com", dns.TypeTXT), dns.RcodeNameError)
}

func TestDeleteTXTKeepsOtherRecords(t *testing.T) {
	srv := start(t)
	srv.SetTXT("example.com", "x")
	srv.SetA("example.com", "192.0.2.1")
	srv.DeleteTXT("example.com")

	resp := query(t, srv, "udp", "example.com", dns.TypeTXT)
	wantRcode(t, resp, dns.RcodeSuccess)
	if len(resp.Answer) != 0 {
		t.Fatalf("want no TXT answers, got %v", resp.Answer)
	}
	resp = query(t, srv, "udp", "example.com", dns.TypeA)
	if len(resp.Answer) != 1 {
		t.Fatalf("A record lost: %v", resp.Answer)
	}
}

func TestSetAServesAAndAAAA(t *testing.T) {
	srv := start(t)
	srv.SetA("host.example.com", "192.0.2.7", "2001:db8::7")

	resp := query(t, srv, "udp", "host.example.com", dns.TypeA)
	if len(resp.Answer) != 1 || !resp.Answer[0].(*dns.A).A.Equal(net.ParseIP("192.0.2.7")) {
		t.Fatalf("A answers: %v", resp.Answer)
	}
	resp = query(t, srv, "udp", "host.example.com", dns.TypeAAAA)
	if len(resp.Answer) != 1 || !resp.Answer[0].(*dns.AAAA).AAAA.Equal(net.ParseIP("2001:db8::7")) {
		t.Fatalf("AAAA answers: %v", resp.Answer)
	}
}

func TestSetAPanicsOnInvalidIP(t *testing.T) {
	srv := start(t)
	defer func() {
		if recover() == nil {
			t.Fatal("SetA with an invalid IP did not panic")
		}
	}()
	srv.SetA("example.com", "not-an-ip")
}

func TestFailWith(t *testing.T) {
	srv := start(t)
	srv.SetTXT("broken.example.com", "x")
	srv.FailWith("broken.example.com", dns.RcodeServerFailure)

	resp := query(t, srv, "udp", "broken.example.com", dns.TypeTXT)
	wantRcode(t, resp, dns.RcodeServerFailure)
	if len(resp.Answer) != 0 {
		t.Fatalf("SERVFAIL with answers: %v", resp.Answer)
	}
	// A name with no records can fail too.
	srv.FailWith("ghost.example.com", dns.RcodeRefused)
	wantRcode(t, query(t, srv, "tcp", "ghost.example.com", dns.TypeTXT), dns.RcodeRefused)

	// Clearing the failure serves the kept records again.
	srv.FailWith("broken.example.com", dns.RcodeSuccess)
	if got := txtOf(t, query(t, srv, "udp", "broken.example.com", dns.TypeTXT)); !slices.Equal(got, []string{"x"}) {
		t.Fatalf("after clearing: got %q", got)
	}
	srv.FailWith("ghost.example.com", dns.RcodeSuccess)
	wantRcode(t, query(t, srv, "udp", "ghost.example.com", dns.TypeTXT), dns.RcodeNameError)
}

func TestLargeAnswerIsTruncatedOverUDPAndWholeOverTCP(t *testing.T) {
	srv := start(t)
	var values []string
	for i := range 30 {
		values = append(values, fmt.Sprintf("%02d-%s", i, strings.Repeat("y", 100)))
	}
	srv.SetTXT("big.example.com", values...)

	// Plain UDP (no EDNS0): limited to 512 bytes.
	c := &dns.Client{Net: "udp", Timeout: 2 * time.Second}
	m := new(dns.Msg)
	m.SetQuestion("big.example.com.", dns.TypeTXT)
	resp, _, err := c.Exchange(m, srv.Addr())
	if err != nil {
		t.Fatal(err)
	}
	if !resp.Truncated {
		t.Fatalf("UDP answer of %d records not truncated", len(resp.Answer))
	}

	resp = query(t, srv, "tcp", "big.example.com", dns.TypeTXT)
	if resp.Truncated || len(resp.Answer) != len(values) {
		t.Fatalf("TCP: truncated=%v, %d answers, want %d", resp.Truncated, len(resp.Answer), len(values))
	}
}

func TestEDNS0SizeIsHonoured(t *testing.T) {
	srv := start(t)
	var values []string
	for i := range 8 {
		values = append(values, fmt.Sprintf("%02d-%s", i, strings.Repeat("z", 100)))
	}
	srv.SetTXT("mid.example.com", values...) // ~1 KB: over 512, under 4096

	c := &dns.Client{Net: "udp", UDPSize: 4096, Timeout: 2 * time.Second}
	m := new(dns.Msg)
	m.SetQuestion("mid.example.com.", dns.TypeTXT)
	m.SetEdns0(4096, false)
	resp, _, err := c.Exchange(m, srv.Addr())
	if err != nil {
		t.Fatal(err)
	}
	if resp.Truncated || len(resp.Answer) != len(values) {
		t.Fatalf("truncated=%v, %d answers, want %d", resp.Truncated, len(resp.Answer), len(values))
	}
	if resp.IsEdns0() == nil {
		t.Error("answer to an EDNS0 query has no OPT record")
	}
}

func TestConcurrentUpdatesAndQueries(t *testing.T) {
	srv := start(t)
	var wg sync.WaitGroup
	for i := range 20 {
		name := fmt.Sprintf("n%d.example.com", i%5)
		wg.Go(func() {
			srv.SetTXT(name, fmt.Sprint(i))
			srv.SetA(name, "192.0.2.1")
			srv.FailWith(name, dns.RcodeSuccess)
		})
		wg.Go(func() {
			c := &dns.Client{Net: "udp", Timeout: 2 * time.Second}
			m := new(dns.Msg)
			m.SetQuestion(dns.Fqdn(name), dns.TypeTXT)
			if _, _, err := c.Exchange(m, srv.Addr()); err != nil {
				t.Error(err)
			}
		})
		wg.Go(func() { srv.DeleteTXT(name) })
	}
	wg.Wait()
}

func TestCloseStopsServingAndIsIdempotent(t *testing.T) {
	srv, err := dnstest.Start()
	if err != nil {
		t.Fatal(err)
	}
	addr := srv.Addr()
	if err := srv.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := srv.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if conn, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		conn.Close()
		t.Fatal("TCP still accepting after Close")
	}
}

func TestSeveralServersAtOnce(t *testing.T) {
	a, b := start(t), start(t)
	if a.Addr() == b.Addr() {
		t.Fatalf("two servers share %s", a.Addr())
	}
	a.SetTXT("example.com", "from-a")
	wantRcode(t, query(t, b, "udp", "example.com", dns.TypeTXT), dns.RcodeNameError)
}

// control sends an HTTP request to the control API and returns the status.
func control(t *testing.T, base, method, path string, params url.Values) int {
	t.Helper()
	req, err := http.NewRequest(method, base+path+"?"+params.Encode(), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func TestControlHandler(t *testing.T) {
	srv := start(t)
	api := httptest.NewServer(srv.ControlHandler())
	defer api.Close()

	// PUT /txt with repeated values.
	status := control(t, api.URL, http.MethodPut, "/txt", url.Values{
		"name":  {"_keyway.example.com"},
		"value": {"token=1", "token=2"},
	})
	if status != http.StatusNoContent {
		t.Fatalf("PUT /txt: status %d", status)
	}
	if got := txtOf(t, query(t, srv, "udp", "_keyway.example.com", dns.TypeTXT)); !slices.Equal(got, []string{"token=1", "token=2"}) {
		t.Fatalf("after PUT: got %q", got)
	}

	// PUT replaces.
	control(t, api.URL, http.MethodPut, "/txt", url.Values{"name": {"_keyway.example.com"}, "value": {"token=3"}})
	if got := txtOf(t, query(t, srv, "udp", "_keyway.example.com", dns.TypeTXT)); !slices.Equal(got, []string{"token=3"}) {
		t.Fatalf("after second PUT: got %q", got)
	}

	// DELETE /txt.
	if status := control(t, api.URL, http.MethodDelete, "/txt", url.Values{"name": {"_keyway.example.com"}}); status != http.StatusNoContent {
		t.Fatalf("DELETE /txt: status %d", status)
	}
	wantRcode(t, query(t, srv, "udp", "_keyway.example.com", dns.TypeTXT), dns.RcodeNameError)

	// PUT and DELETE /a.
	if status := control(t, api.URL, http.MethodPut, "/a", url.Values{"name": {"www.example.com"}, "ip": {"192.0.2.9"}}); status != http.StatusNoContent {
		t.Fatalf("PUT /a: status %d", status)
	}
	if resp := query(t, srv, "udp", "www.example.com", dns.TypeA); len(resp.Answer) != 1 {
		t.Fatalf("after PUT /a: %v", resp.Answer)
	}
	control(t, api.URL, http.MethodDelete, "/a", url.Values{"name": {"www.example.com"}})
	wantRcode(t, query(t, srv, "udp", "www.example.com", dns.TypeA), dns.RcodeNameError)

	// PUT and DELETE /fail, by name and by number.
	for _, rcode := range []string{"SERVFAIL", "servfail", "2"} {
		if status := control(t, api.URL, http.MethodPut, "/fail", url.Values{"name": {"down.example.com"}, "rcode": {rcode}}); status != http.StatusNoContent {
			t.Fatalf("PUT /fail rcode=%s: status %d", rcode, status)
		}
		wantRcode(t, query(t, srv, "udp", "down.example.com", dns.TypeTXT), dns.RcodeServerFailure)
	}
	control(t, api.URL, http.MethodDelete, "/fail", url.Values{"name": {"down.example.com"}})
	wantRcode(t, query(t, srv, "udp", "down.example.com", dns.TypeTXT), dns.RcodeNameError)
}

func TestControlHandlerRejectsBadRequests(t *testing.T) {
	srv := start(t)
	api := httptest.NewServer(srv.ControlHandler())
	defer api.Close()

	for _, tc := range []struct {
		method, path string
		params       url.Values
		want         int
	}{
		{http.MethodPut, "/txt", url.Values{"value": {"x"}}, http.StatusBadRequest},
		{http.MethodPut, "/txt", url.Values{"name": {"example.com"}}, http.StatusBadRequest},
		{http.MethodPut, "/txt", url.Values{"name": {"bad..name"}, "value": {"x"}}, http.StatusBadRequest},
		{http.MethodDelete, "/txt", url.Values{}, http.StatusBadRequest},
		{http.MethodPut, "/a", url.Values{"name": {"example.com"}, "ip": {"nope"}}, http.StatusBadRequest},
		{http.MethodPut, "/fail", url.Values{"name": {"example.com"}, "rcode": {"BOGUS"}}, http.StatusBadRequest},
		{http.MethodPut, "/fail", url.Values{"name": {"example.com"}, "rcode": {"99"}}, http.StatusBadRequest},
		{http.MethodPost, "/txt", url.Values{"name": {"example.com"}, "value": {"x"}}, http.StatusMethodNotAllowed},
		{http.MethodGet, "/nothing", url.Values{}, http.StatusNotFound},
	} {
		if got := control(t, api.URL, tc.method, tc.path, tc.params); got != tc.want {
			t.Errorf("%s %s?%s: status %d, want %d", tc.method, tc.path, tc.params.Encode(), got, tc.want)
		}
	}
	wantRcode(t, query(t, srv, "udp", "example.com", dns.TypeTXT), dns.RcodeNameError)
}
