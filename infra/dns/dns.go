// Package dns looks up DNS TXT records, as used to verify that an
// organization controls a domain.
//
// It is built on the standard library's pure-Go resolver. When a server is
// configured (the KEYWAY_DNS_RESOLVER setting), every query goes to that
// server: over UDP, and again over TCP when the UDP answer is truncated.
// Otherwise the system resolver configuration is used.
package dns

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"
)

// DefaultTimeout bounds a lookup when New is given a timeout that is not
// positive.
const DefaultTimeout = 5 * time.Second

// Resolver looks up TXT records. Create one with New; the zero value is not
// usable. A Resolver is safe for concurrent use.
type Resolver struct {
	server   string // "host:port", or "" for the system resolver
	timeout  time.Duration
	resolver *net.Resolver
}

// New returns a Resolver that sends its queries to server, given as
// "host:port" (port 53 is assumed when it is missing). An empty server means
// the system resolver. Each lookup, including retries and a TCP fallback,
// takes at most timeout; a timeout that is not positive means DefaultTimeout.
func New(server string, timeout time.Duration) *Resolver {
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	server = normalizeServer(server)
	r := &Resolver{server: server, timeout: timeout}
	if server == "" {
		r.resolver = &net.Resolver{}
		return r
	}
	r.resolver = &net.Resolver{
		PreferGo: true,
		// The Go resolver calls Dial with the network ("udp" or "tcp") and
		// a server address from the system configuration; the address is
		// replaced so that every query reaches the configured server.
		Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
			d := net.Dialer{Timeout: timeout}
			return d.DialContext(ctx, network, server)
		},
	}
	return r
}

// normalizeServer trims server and adds the default DNS port when it has
// none.
func normalizeServer(server string) string {
	server = strings.TrimSpace(server)
	if server == "" {
		return ""
	}
	if _, _, err := net.SplitHostPort(server); err == nil {
		return server
	}
	host := strings.TrimSuffix(strings.TrimPrefix(server, "["), "]")
	return net.JoinHostPort(host, "53")
}

// Server returns the "host:port" the Resolver queries, or "" when it uses
// the system resolver.
func (r *Resolver) Server() string { return r.server }

// LookupTXT returns the TXT records of name, one string per record with the
// record's character-strings joined, as net.LookupTXT does. name is looked up
// as a fully qualified name: no search domains are appended.
//
// When the name does not exist (NXDOMAIN) or has no TXT records, LookupTXT
// returns nil and a nil error. Any other failure — a timeout, an unreachable
// server, SERVFAIL, REFUSED, a malformed answer — is returned as an error
// wrapping the resolver's error (usually a *net.DNSError), so that a caller
// can tell "the record is absent" from "we could not find out".
func (r *Resolver) LookupTXT(ctx context.Context, name string) ([]string, error) {
	name = strings.TrimSpace(name)
	if name == "" || name == "." {
		return nil, errors.New("dns: lookup TXT: empty name")
	}
	fqdn := name
	if !strings.HasSuffix(fqdn, ".") {
		fqdn += "."
	}

	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()

	txt, err := r.resolver.LookupTXT(ctx, fqdn)
	if err != nil {
		var dnsErr *net.DNSError
		if errors.As(err, &dnsErr) && dnsErr.IsNotFound {
			return nil, nil
		}
		return nil, fmt.Errorf("dns: lookup TXT %s: %w", name, err)
	}
	if len(txt) == 0 {
		return nil, nil
	}
	return txt, nil
}
