package dns_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	mdns "github.com/miekg/dns"

	"github.com/keywayhq/keyway/infra/dns"
	"github.com/keywayhq/keyway/test/dnstest"
)

const testTimeout = 2 * time.Second

func startServer(t *testing.T) (*dnstest.Server, *dns.Resolver) {
	t.Helper()
	srv, err := dnstest.Start()
	if err != nil {
		t.Fatalf("start dns server: %v", err)
	}
	t.Cleanup(func() { srv.Close() })
	return srv, dns.New(srv.Addr(), testTimeout)
}

func lookup(t *testing.T, r *dns.Resolver, name string) []string {
	t.Helper()
	got, err := r.LookupTXT(context.Background(), name)
	if err != nil {
		t.Fatalf("LookupTXT(%q): unexpected error: %v", name, err)
	}
	return got
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

func TestLookupTXTOneRecord(t *testing.T) {
	srv, r := startServer(t)
	srv.SetTXT("_keyway-verification.example.com", "keyway-verification=abc123")

	got := lookup(t, r, "_keyway-verification.example.com")
	if want := []string{"keyway-verification=abc123"}; !slices.Equal(got, want) {
		t.Fatalf("got %q, want %q", got, want)
	}
}

func TestLookupTXTSeveralRecords(t *testing.T) {
	srv, r := startServer(t)
	want := []string{"v=spf1 -all", "keyway-verification=abc", "google-site-verification=xyz"}
	srv.SetTXT("example.com", want...)

	got := lookup(t, r, "example.com")
	if !slices.Equal(sorted(got), sorted(want)) {
		t.Fatalf("got %q, want %q", got, want)
	}
}

func TestLookupTXTMultiStringRecordIsJoined(t *testing.T) {
	srv, r := startServer(t)
	srv.SetTXTRecords("multi.example.com", []string{"keyway-verification=", "abc", "123"})

	got := lookup(t, r, "multi.example.com")
	if want := []string{"keyway-verification=abc123"}; !slices.Equal(got, want) {
		t.Fatalf("got %q, want %q", got, want)
	}
}

func TestLookupTXTLongValueSplitAndJoined(t *testing.T) {
	srv, r := startServer(t)
	long := strings.Repeat("0123456789", 70) // 700 bytes: three strings on the wire
	srv.SetTXT("long.example.com", long)

	got := lookup(t, r, "long.example.com")
	if len(got) != 1 || got[0] != long {
		t.Fatalf("got %d records (first %d bytes), want one record of %d bytes", len(got), lenFirst(got), len(long))
	}
}

func lenFirst(s []string) int {
	if len(s) == 0 {
		return 0
	}
	return len(s[0])
}

func TestLookupTXTLargeAnswerFallsBackToTCP(t *testing.T) {
	srv, r := startServer(t)
	// 40 records of ~100 bytes exceed both 512 bytes and the 1232-byte
	// EDNS0 size Go's resolver advertises, so the UDP answer is truncated
	// and the resolver must retry over TCP.
	var want []string
	for i := range 40 {
		want = append(want, fmt.Sprintf("record-%02d-%s", i, strings.Repeat("x", 90)))
	}
	srv.SetTXT("big.example.com", want...)

	got := lookup(t, r, "big.example.com")
	if !slices.Equal(sorted(got), sorted(want)) {
		t.Fatalf("got %d records, want %d", len(got), len(want))
	}
}

func TestLookupTXTNameIsCaseInsensitiveAndMayBeFullyQualified(t *testing.T) {
	srv, r := startServer(t)
	srv.SetTXT("Example.COM", "hello")

	for _, name := range []string{"example.com", "EXAMPLE.com.", "example.com."} {
		got := lookup(t, r, name)
		if want := []string{"hello"}; !slices.Equal(got, want) {
			t.Errorf("LookupTXT(%q) = %q, want %q", name, got, want)
		}
	}
}

func TestLookupTXTSeesChanges(t *testing.T) {
	srv, r := startServer(t)
	name := "_keyway.example.com"

	if got := lookup(t, r, name); got != nil {
		t.Fatalf("before SetTXT: got %q, want nil", got)
	}
	srv.SetTXT(name, "first")
	if got := lookup(t, r, name); !slices.Equal(got, []string{"first"}) {
		t.Fatalf("after SetTXT: got %q", got)
	}
	srv.SetTXT(name, "second")
	if got := lookup(t, r, name); !slices.Equal(got, []string{"second"}) {
		t.Fatalf("after replacing: got %q", got)
	}
	srv.DeleteTXT(name)
	if got := lookup(t, r, name); got != nil {
		t.Fatalf("after DeleteTXT: got %q, want nil", got)
	}
}

func TestLookupTXTMissingNameIsNotAnError(t *testing.T) {
	_, r := startServer(t)

	got, err := r.LookupTXT(context.Background(), "missing.example.com")
	if err != nil || got != nil {
		t.Fatalf("got (%q, %v), want (nil, nil)", got, err)
	}
}

func TestLookupTXTNameWithoutTXTIsNotAnError(t *testing.T) {
	srv, r := startServer(t)
	srv.SetA("www.example.com", "192.0.2.10")

	got, err := r.LookupTXT(context.Background(), "www.example.com")
	if err != nil || got != nil {
		t.Fatalf("A-only name: got (%q, %v), want (nil, nil)", got, err)
	}
}

func TestLookupTXTEmptyNonTerminalIsNotAnError(t *testing.T) {
	srv, r := startServer(t)
	srv.SetTXT("_keyway.example.com", "token")

	got, err := r.LookupTXT(context.Background(), "example.com")
	if err != nil || got != nil {
		t.Fatalf("empty non-terminal: got (%q, %v), want (nil, nil)", got, err)
	}
}

func TestLookupTXTServerFailureIsAnError(t *testing.T) {
	for _, tc := range []struct {
		name  string
		rcode int
	}{
		{"SERVFAIL", mdns.RcodeServerFailure},
		{"REFUSED", mdns.RcodeRefused},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, r := startServer(t)
			srv.SetTXT("broken.example.com", "would-be-answer")
			srv.FailWith("broken.example.com", tc.rcode)

			got, err := r.LookupTXT(context.Background(), "broken.example.com")
			if err == nil {
				t.Fatalf("got (%q, nil), want an error", got)
			}
			if got != nil {
				t.Errorf("got records %q alongside the error", got)
			}
			var dnsErr *net.DNSError
			if !errors.As(err, &dnsErr) {
				t.Fatalf("error %v does not wrap *net.DNSError", err)
			}
			if dnsErr.IsNotFound {
				t.Errorf("error %v reports IsNotFound", err)
			}
		})
	}
}

// closedPort returns an address of 127.0.0.1 with a port on which nothing
// listens, over UDP or TCP.
func closedPort(t *testing.T) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := pc.LocalAddr().String()
	pc.Close()
	return addr
}

func TestLookupTXTServerDownIsAnErrorWithinTimeout(t *testing.T) {
	r := dns.New(closedPort(t), testTimeout)

	start := time.Now()
	got, err := r.LookupTXT(context.Background(), "example.com")
	elapsed := time.Since(start)
	if err == nil {
		t.Fatalf("got (%q, nil), want an error", got)
	}
	if elapsed > testTimeout+time.Second {
		t.Fatalf("took %v, want at most about %v", elapsed, testTimeout)
	}
}

func TestLookupTXTUnresponsiveServerTimesOut(t *testing.T) {
	// A UDP socket that reads queries and never answers.
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	go func() {
		buf := make([]byte, 2048)
		for {
			if _, _, err := pc.ReadFrom(buf); err != nil {
				return
			}
		}
	}()

	const timeout = 300 * time.Millisecond
	r := dns.New(pc.LocalAddr().String(), timeout)
	start := time.Now()
	got, err := r.LookupTXT(context.Background(), "example.com")
	elapsed := time.Since(start)
	if err == nil {
		t.Fatalf("got (%q, nil), want an error", got)
	}
	var dnsErr *net.DNSError
	if !errors.As(err, &dnsErr) || !dnsErr.IsTimeout {
		t.Errorf("error %v is not a *net.DNSError timeout", err)
	}
	if elapsed > timeout+time.Second {
		t.Fatalf("took %v, want about %v", elapsed, timeout)
	}
}

func TestLookupTXTCanceledContextIsAnError(t *testing.T) {
	srv, r := startServer(t)
	srv.SetTXT("example.com", "hello")

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if got, err := r.LookupTXT(ctx, "example.com"); err == nil {
		t.Fatalf("got (%q, nil), want an error", got)
	}
}

func TestLookupTXTEmptyNameIsAnError(t *testing.T) {
	_, r := startServer(t)
	for _, name := range []string{"", " ", "."} {
		if _, err := r.LookupTXT(context.Background(), name); err == nil {
			t.Errorf("LookupTXT(%q): want an error", name)
		}
	}
}

func TestLookupTXTConcurrent(t *testing.T) {
	srv, r := startServer(t)
	for i := range 10 {
		srv.SetTXT(fmt.Sprintf("n%d.example.com", i), fmt.Sprintf("v%d", i))
	}
	var wg sync.WaitGroup
	for i := range 50 {
		wg.Go(func() {
			name := fmt.Sprintf("n%d.example.com", i%10)
			got, err := r.LookupTXT(context.Background(), name)
			if err != nil {
				t.Errorf("LookupTXT(%q): %v", name, err)
				return
			}
			if want := []string{fmt.Sprintf("v%d", i%10)}; !slices.Equal(got, want) {
				t.Errorf("LookupTXT(%q) = %q, want %q", name, got, want)
			}
		})
	}
	wg.Wait()
}

func TestNewServerAddress(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", ""},
		{"  ", ""},
		{"127.0.0.1:5353", "127.0.0.1:5353"},
		{"10.0.0.2", "10.0.0.2:53"},
		{"resolver.internal", "resolver.internal:53"},
		{"::1", "[::1]:53"},
		{"[::1]", "[::1]:53"},
		{"[::1]:5300", "[::1]:5300"},
	} {
		if got := dns.New(tc.in, time.Second).Server(); got != tc.want {
			t.Errorf("New(%q).Server() = %q, want %q", tc.in, got, tc.want)
		}
	}
}
