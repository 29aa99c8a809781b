// Package dnstest runs a small, real DNS server on 127.0.0.1 for tests.
//
// The server answers over UDP and TCP on the same port, so clients that fall
// back to TCP after a truncated UDP answer (as Go's resolver does) work
// against it. Records are held in memory and can be changed at any time, from
// any goroutine, with SetTXT, DeleteTXT, SetA and FailWith, or over HTTP
// through ControlHandler for test suites written in other languages.
//
// Answers follow ordinary DNS semantics closely enough for resolver tests:
//
//   - a name that has records answers NOERROR with the records of the asked
//     type, or with no answers when it has none of that type (NODATA);
//   - a name that has no records of its own but has a descendant that does
//     (an empty non-terminal) answers NOERROR with no answers;
//   - any other name answers NXDOMAIN;
//   - a name marked with FailWith answers with that rcode and nothing else.
//
// Names are case-insensitive and may be given with or without a trailing dot.
package dnstest

import (
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/miekg/dns"
)

// TTL is the time to live, in seconds, of every record the server answers.
const TTL = 60

// maxTXTString is the largest character-string a TXT record can hold.
const maxTXTString = 255

// Server is an in-memory DNS server listening on 127.0.0.1. Create one with
// Start and stop it with Close. All methods are safe for concurrent use.
type Server struct {
	addr string
	udp  *dns.Server
	tcp  *dns.Server

	mu      sync.RWMutex
	records map[string]*entry // keyed by canonical (lower-case, fully qualified) name
}

// entry holds what the server knows about one name.
type entry struct {
	txt   [][]string // each element is one TXT record's character-strings, unescaped
	ips   []net.IP   // A (IPv4) and AAAA (IPv6) addresses
	rcode int        // when not dns.RcodeSuccess, every query for the name fails with it
}

func (e *entry) empty() bool {
	return len(e.txt) == 0 && len(e.ips) == 0 && e.rcode == dns.RcodeSuccess
}

// Start starts a server on a free port of 127.0.0.1, listening on UDP and on
// TCP with the same port number. It returns once both listeners are serving.
func Start() (*Server, error) {
	s := &Server{records: make(map[string]*entry)}
	pc, ln, err := listen()
	if err != nil {
		return nil, err
	}
	s.addr = pc.LocalAddr().String()
	h := dns.HandlerFunc(s.serveDNS)
	s.udp = &dns.Server{PacketConn: pc, Handler: h}
	s.tcp = &dns.Server{Listener: ln, Handler: h}

	if err := serve(s.udp); err != nil {
		pc.Close()
		ln.Close()
		return nil, fmt.Errorf("dnstest: serve udp: %w", err)
	}
	if err := serve(s.tcp); err != nil {
		_ = s.udp.Shutdown()
		ln.Close()
		return nil, fmt.Errorf("dnstest: serve tcp: %w", err)
	}
	return s, nil
}

// listen opens a UDP socket on a free port and a TCP listener on the same
// port, retrying with another port when the TCP one is already taken.
func listen() (net.PacketConn, net.Listener, error) {
	const attempts = 20
	var lastErr error
	for range attempts {
		pc, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			return nil, nil, fmt.Errorf("dnstest: listen udp: %w", err)
		}
		ln, err := net.Listen("tcp", pc.LocalAddr().String())
		if err == nil {
			return pc, ln, nil
		}
		pc.Close()
		lastErr = err
	}
	return nil, nil, fmt.Errorf("dnstest: no port free for both udp and tcp after %d attempts: %w", attempts, lastErr)
}

// serve runs srv in the background and waits until it is accepting queries.
func serve(srv *dns.Server) error {
	started := make(chan struct{})
	failed := make(chan error, 1)
	srv.NotifyStartedFunc = func() { close(started) }
	go func() {
		if err := srv.ActivateAndServe(); err != nil {
			failed <- err
		}
	}()
	select {
	case <-started:
		return nil
	case err := <-failed:
		return err
	case <-time.After(5 * time.Second):
		return errors.New("server did not start within 5s")
	}
}

// Addr returns the address both listeners use, as "127.0.0.1:PORT".
func (s *Server) Addr() string { return s.addr }

// Close stops both listeners. It is safe to call more than once.
func (s *Server) Close() error {
	errU := s.udp.Shutdown()
	errT := s.tcp.Shutdown()
	if errU != nil && errT != nil {
		// Both already shut down: a repeated Close.
		return nil
	}
	return errors.Join(errU, errT)
}

// canonical returns the lookup key for name: lower case, fully qualified.
func canonical(name string) string { return dns.CanonicalName(name) }

// SetTXT replaces the TXT records of name with one record per value. A value
// longer than 255 bytes is split into several character-strings of one
// record, as DNS providers do; resolvers that join a record's strings (such
// as Go's net.LookupTXT) see the original value. With no values, SetTXT is
// DeleteTXT.
func (s *Server) SetTXT(name string, values ...string) {
	records := make([][]string, 0, len(values))
	for _, v := range values {
		records = append(records, splitTXT(v))
	}
	s.SetTXTRecords(name, records...)
}

// SetTXTRecords replaces the TXT records of name with the given records, each
// given as its character-strings, for tests that need a record made of
// several strings of chosen sizes. Every string must be at most 255 bytes;
// SetTXTRecords panics otherwise. With no records, it is DeleteTXT.
func (s *Server) SetTXTRecords(name string, records ...[]string) {
	txt := make([][]string, 0, len(records))
	for _, rec := range records {
		for _, str := range rec {
			if len(str) > maxTXTString {
				panic(fmt.Sprintf("dnstest: TXT string of %d bytes for %q exceeds %d", len(str), name, maxTXTString))
			}
		}
		txt = append(txt, append([]string(nil), rec...))
	}
	s.update(name, func(e *entry) { e.txt = txt })
}

// DeleteTXT removes every TXT record of name. A name left with no records
// answers NXDOMAIN again (unless it is an empty non-terminal).
func (s *Server) DeleteTXT(name string) {
	s.update(name, func(e *entry) { e.txt = nil })
}

// SetA replaces the address records of name. IPv4 addresses are served as A
// records and IPv6 addresses as AAAA records. With no addresses, the address
// records are removed. SetA panics if an address does not parse.
func (s *Server) SetA(name string, ips ...string) {
	parsed := make([]net.IP, 0, len(ips))
	for _, ip := range ips {
		p := net.ParseIP(ip)
		if p == nil {
			panic(fmt.Sprintf("dnstest: invalid IP address %q for %q", ip, name))
		}
		parsed = append(parsed, p)
	}
	s.update(name, func(e *entry) { e.ips = parsed })
}

// FailWith makes every query for name (of any type) answer with rcode, such
// as dns.RcodeServerFailure or dns.RcodeRefused, and no records. The name's
// records are kept and served again after FailWith(name, dns.RcodeSuccess).
func (s *Server) FailWith(name string, rcode int) {
	s.update(name, func(e *entry) { e.rcode = rcode })
}

// update applies fn to the entry of name, creating it if needed and removing
// it when fn leaves it empty.
func (s *Server) update(name string, fn func(*entry)) {
	key := canonical(name)
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.records[key]
	if e == nil {
		e = &entry{}
	}
	fn(e)
	if e.empty() {
		delete(s.records, key)
		return
	}
	s.records[key] = e
}

// splitTXT splits v into character-strings of at most 255 bytes.
func splitTXT(v string) []string {
	if len(v) <= maxTXTString {
		return []string{v}
	}
	var parts []string
	for len(v) > maxTXTString {
		parts = append(parts, v[:maxTXTString])
		v = v[maxTXTString:]
	}
	return append(parts, v)
}

// escapeTXT converts a raw character-string to the escaped form miekg/dns
// expects in dns.TXT.Txt, where a backslash starts an escape sequence.
func escapeTXT(s string) string {
	return strings.ReplaceAll(s, `\`, `\\`)
}

// serveDNS answers one query.
func (s *Server) serveDNS(w dns.ResponseWriter, req *dns.Msg) {
	m := new(dns.Msg)
	m.SetReply(req)
	m.Authoritative = true
	m.RecursionAvailable = true

	switch {
	case req.Opcode != dns.OpcodeQuery:
		m.Rcode = dns.RcodeNotImplemented
	case len(req.Question) != 1:
		m.Rcode = dns.RcodeFormatError
	default:
		s.answer(m, req.Question[0])
	}

	size := dns.MaxMsgSize
	if _, udp := w.RemoteAddr().(*net.UDPAddr); udp {
		size = dns.MinMsgSize
		if opt := req.IsEdns0(); opt != nil && int(opt.UDPSize()) > size {
			size = int(opt.UDPSize())
		}
	}
	if opt := req.IsEdns0(); opt != nil {
		m.SetEdns0(opt.UDPSize(), false)
	}
	// Truncate sets the TC bit when the answer does not fit, which makes
	// clients retry over TCP.
	m.Truncate(size)
	_ = w.WriteMsg(m)
}

// answer fills m with the answer to q.
func (s *Server) answer(m *dns.Msg, q dns.Question) {
	key := canonical(q.Name)
	s.mu.RLock()
	defer s.mu.RUnlock()

	e := s.records[key]
	if e == nil {
		if !s.hasDescendantLocked(key) {
			m.Rcode = dns.RcodeNameError
		}
		return
	}
	if e.rcode != dns.RcodeSuccess {
		m.Rcode = e.rcode
		return
	}
	hdr := func(t uint16) dns.RR_Header {
		return dns.RR_Header{Name: q.Name, Rrtype: t, Class: dns.ClassINET, Ttl: TTL}
	}
	if q.Qtype == dns.TypeTXT || q.Qtype == dns.TypeANY {
		for _, rec := range e.txt {
			strs := make([]string, len(rec))
			for i, str := range rec {
				strs[i] = escapeTXT(str)
			}
			m.Answer = append(m.Answer, &dns.TXT{Hdr: hdr(dns.TypeTXT), Txt: strs})
		}
	}
	for _, ip := range e.ips {
		if ip4 := ip.To4(); ip4 != nil {
			if q.Qtype == dns.TypeA || q.Qtype == dns.TypeANY {
				m.Answer = append(m.Answer, &dns.A{Hdr: hdr(dns.TypeA), A: ip4})
			}
		} else if q.Qtype == dns.TypeAAAA || q.Qtype == dns.TypeANY {
			m.Answer = append(m.Answer, &dns.AAAA{Hdr: hdr(dns.TypeAAAA), AAAA: ip})
		}
	}
}

// hasDescendantLocked reports whether some name below key has records, which
// makes key an empty non-terminal. s.mu must be held.
func (s *Server) hasDescendantLocked(key string) bool {
	if key == "." {
		return len(s.records) > 0
	}
	suffix := "." + key
	for k := range s.records {
		if strings.HasSuffix(k, suffix) {
			return true
		}
	}
	return false
}
