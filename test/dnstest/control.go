package dnstest

import (
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"

	"github.com/miekg/dns"
)

// ControlHandler returns an HTTP handler that changes the server's records,
// so that test suites in other runtimes can drive a server that a Go harness
// runs. Every parameter is a URL query parameter; name is always required.
//
//	PUT    /txt?name=N&value=V[&value=V2...]  replace N's TXT records (SetTXT)
//	DELETE /txt?name=N                        remove N's TXT records (DeleteTXT)
//	PUT    /a?name=N&ip=IP[&ip=IP2...]        replace N's A/AAAA records (SetA)
//	DELETE /a?name=N                          remove N's A/AAAA records
//	PUT    /fail?name=N&rcode=SERVFAIL        make N fail with an rcode (FailWith);
//	                                          rcode is a name such as SERVFAIL,
//	                                          REFUSED or NXDOMAIN, or a number
//	DELETE /fail?name=N                       stop failing N
//
// Successful requests answer 204 No Content; bad parameters answer 400 with a
// plain-text reason, and other methods 405.
func (s *Server) ControlHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("PUT /txt", func(w http.ResponseWriter, r *http.Request) {
		name, ok := requireName(w, r)
		if !ok {
			return
		}
		values := r.URL.Query()["value"]
		if len(values) == 0 {
			http.Error(w, "at least one value parameter is required (use DELETE to remove records)", http.StatusBadRequest)
			return
		}
		for _, v := range values {
			if len(v) > 4096 {
				http.Error(w, "value longer than 4096 bytes", http.StatusBadRequest)
				return
			}
		}
		s.SetTXT(name, values...)
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("DELETE /txt", func(w http.ResponseWriter, r *http.Request) {
		name, ok := requireName(w, r)
		if !ok {
			return
		}
		s.DeleteTXT(name)
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("PUT /a", func(w http.ResponseWriter, r *http.Request) {
		name, ok := requireName(w, r)
		if !ok {
			return
		}
		ips := r.URL.Query()["ip"]
		if len(ips) == 0 {
			http.Error(w, "at least one ip parameter is required (use DELETE to remove records)", http.StatusBadRequest)
			return
		}
		for _, ip := range ips {
			if !validIP(ip) {
				http.Error(w, fmt.Sprintf("invalid ip %q", ip), http.StatusBadRequest)
				return
			}
		}
		s.SetA(name, ips...)
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("DELETE /a", func(w http.ResponseWriter, r *http.Request) {
		name, ok := requireName(w, r)
		if !ok {
			return
		}
		s.SetA(name)
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("PUT /fail", func(w http.ResponseWriter, r *http.Request) {
		name, ok := requireName(w, r)
		if !ok {
			return
		}
		rcode, err := parseRcode(r.URL.Query().Get("rcode"))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		s.FailWith(name, rcode)
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("DELETE /fail", func(w http.ResponseWriter, r *http.Request) {
		name, ok := requireName(w, r)
		if !ok {
			return
		}
		s.FailWith(name, dns.RcodeSuccess)
		w.WriteHeader(http.StatusNoContent)
	})
	return mux
}

// requireName returns the name query parameter, or answers 400 without it.
func requireName(w http.ResponseWriter, r *http.Request) (string, bool) {
	name := strings.TrimSpace(r.URL.Query().Get("name"))
	if name == "" || name == "." {
		http.Error(w, "name parameter is required", http.StatusBadRequest)
		return "", false
	}
	if _, ok := dns.IsDomainName(name); !ok {
		http.Error(w, fmt.Sprintf("invalid name %q", name), http.StatusBadRequest)
		return "", false
	}
	return name, true
}

// parseRcode parses an rcode given by name (SERVFAIL, case-insensitive) or
// number (2). It must fit the 4-bit header field.
func parseRcode(s string) (int, error) {
	if s == "" {
		return 0, fmt.Errorf("rcode parameter is required")
	}
	if rc, ok := dns.StringToRcode[strings.ToUpper(s)]; ok && rc <= 0xF {
		return rc, nil
	}
	if n, err := strconv.Atoi(s); err == nil && n >= 0 && n <= 0xF {
		return n, nil
	}
	return 0, fmt.Errorf("invalid rcode %q", s)
}

// validIP reports whether s is an IPv4 or IPv6 address.
func validIP(s string) bool { return net.ParseIP(s) != nil }
