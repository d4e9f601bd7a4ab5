// Package safehttp fetches what a model returns, which a model (or a
// caption steering it) controls: only over https, only from the hosts
// results are served from, and never from an address inside the network
// photobot runs in (loopback, private, link-local, ...), checked on the
// address actually dialed, after DNS, on every redirect.
package safehttp

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"syscall"
	"time"
)

// DefaultHosts are the hosts Replicate serves outputs from, with their
// subdomains.
var DefaultHosts = []string{"replicate.delivery"}

// ErrRefused: a URL or an address results may not come from.
var ErrRefused = errors.New("refused")

// Allowed reports whether u is https on one of hosts (a host or any of
// its subdomains; DefaultHosts when hosts is empty).
func Allowed(u *url.URL, hosts []string) bool {
	if u == nil || u.Scheme != "https" || u.User != nil {
		return false
	}
	if len(hosts) == 0 {
		hosts = DefaultHosts
	}
	h := strings.TrimSuffix(strings.ToLower(u.Hostname()), ".")
	for _, s := range hosts {
		s = strings.TrimPrefix(strings.TrimSuffix(strings.ToLower(strings.TrimSpace(s)), "."), ".")
		if s != "" && (h == s || strings.HasSuffix(h, "."+s)) {
			return true
		}
	}
	return false
}

// Check returns an error wrapping ErrRefused when raw may not be fetched.
// The error names the host only: a URL may carry a credential.
func Check(raw string, hosts []string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("%w: a malformed URL", ErrRefused)
	}
	if !Allowed(u, hosts) {
		return fmt.Errorf("%w: %s://%s is not an https URL on a result host (RESULT_HOSTS: %s)",
			ErrRefused, u.Scheme, u.Hostname(), strings.Join(orDefault(hosts), ","))
	}
	return nil
}

func orDefault(hosts []string) []string {
	if len(hosts) == 0 {
		return DefaultHosts
	}
	return hosts
}

// NewClient returns a client for results on hosts. It has no proxy (a
// proxy would dial for it, unchecked) and follows at most 5 redirects,
// each to an allowed URL.
func NewClient(hosts []string) *http.Client { return newClient(hosts, nil) }

// Trusting is a check and a client that also take the exact origins given
// (scheme://host:port, such as a fake's http://127.0.0.1:PORT), which
// Check and NewClient refuse. Only tests use it: their fakes serve results
// over http on loopback. Production builds Check and NewClient.
func Trusting(hosts, origins []string) (check func(raw string) error, c *http.Client) {
	trusted := map[string]bool{}
	for _, o := range origins {
		if u, err := url.Parse(o); err == nil && u.Host != "" {
			trusted[u.Scheme+"://"+u.Host] = true
		}
	}
	check = func(raw string) error {
		if u, err := url.Parse(raw); err == nil && u.User == nil && trusted[u.Scheme+"://"+u.Host] {
			return nil
		}
		return Check(raw, hosts)
	}
	return check, newClient(hosts, trusted)
}

func newClient(hosts []string, trusted map[string]bool) *http.Client {
	addrs := map[string]bool{}
	for o := range trusted {
		addrs[o[strings.Index(o, "://")+3:]] = true
	}
	ctl := func(network, address string, c syscall.RawConn) error {
		if addrs[address] {
			return nil
		}
		return control(network, address, c)
	}
	d := &net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second, Control: ctl}
	return &http.Client{
		Transport: &http.Transport{
			DialContext:           d.DialContext,
			TLSHandshakeTimeout:   5 * time.Second,
			ResponseHeaderTimeout: 20 * time.Second,
			IdleConnTimeout:       90 * time.Second,
			MaxIdleConnsPerHost:   8,
		},
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) >= 5 {
				return fmt.Errorf("%w: more than 5 redirects", ErrRefused)
			}
			if trusted[req.URL.Scheme+"://"+req.URL.Host] && req.URL.User == nil {
				return nil
			}
			return Check(req.URL.String(), hosts)
		},
	}
}

// control refuses a connection to an address that is not public, after
// DNS has resolved the name: a public name may resolve to 127.0.0.1.
func control(network, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("%w: cannot read the address %q", ErrRefused, address)
	}
	if !Public(ap.Addr()) {
		return fmt.Errorf("%w: %s is not a public address", ErrRefused, ap.Addr())
	}
	return nil
}

// nonPublic are ranges that IsPrivate and its kin do not name but that
// reach inside a network: CGNAT, IETF protocol assignments, benchmarking,
// reserved, and the IPv6 forms that embed an IPv4 address (NAT64, 6to4).
var nonPublic = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),
	netip.MustParsePrefix("100.64.0.0/10"),
	netip.MustParsePrefix("192.0.0.0/24"),
	netip.MustParsePrefix("198.18.0.0/15"),
	netip.MustParsePrefix("240.0.0.0/4"),
	netip.MustParsePrefix("64:ff9b::/96"),
	netip.MustParsePrefix("2002::/16"),
}

// Public reports whether a is an address on the public internet.
func Public(a netip.Addr) bool {
	if !a.IsValid() || a.Is4In6() || a.Zone() != "" {
		return false
	}
	if a.IsLoopback() || a.IsPrivate() || a.IsLinkLocalUnicast() || a.IsLinkLocalMulticast() ||
		a.IsInterfaceLocalMulticast() || a.IsMulticast() || a.IsUnspecified() {
		return false
	}
	for _, p := range nonPublic {
		if p.Contains(a) {
			return false
		}
	}
	return true
}

// Fetch is a GET of raw with c, refused before any request when raw is
// not allowed.
func Fetch(ctx context.Context, c *http.Client, raw string, hosts []string) (*http.Response, error) {
	if err := Check(raw, hosts); err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, raw, nil)
	if err != nil {
		return nil, fmt.Errorf("%w: a malformed URL", ErrRefused)
	}
	return c.Do(req)
}
