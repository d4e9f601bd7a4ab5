package safehttp

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"testing"
)

func TestAllowedHosts(t *testing.T) {
	for raw, want := range map[string]bool{
		"https://replicate.delivery/x/out.png":      true,
		"https://pbxt.replicate.delivery/x/out.png": true,
		"https://PBXT.Replicate.Delivery./x.png":    true,
		"http://replicate.delivery/x/out.png":       false,
		"https://evilreplicate.delivery/x.png":      false,
		"https://replicate.delivery.evil.com/x.png": false,
		"https://user@replicate.delivery/x.png":     false,
		"https://127.0.0.1/latest/meta-data/":       false,
		"https://169.254.169.254/latest/meta-data/": false,
		"file:///etc/passwd":                        false,
	} {
		u, _ := url.Parse(raw)
		if got := Allowed(u, nil); got != want {
			t.Errorf("Allowed(%s) = %v, want %v", raw, got, want)
		}
	}
	u, _ := url.Parse("https://cdn.example.com/a.png")
	if !Allowed(u, []string{"example.com"}) || Allowed(u, []string{"other.com"}) {
		t.Errorf("RESULT_HOSTS not honoured")
	}
}

func TestPublic(t *testing.T) {
	for s, want := range map[string]bool{
		"8.8.8.8": true, "2001:4860:4860::8888": true,
		"127.0.0.1": false, "10.1.2.3": false, "172.16.0.1": false, "192.168.1.1": false,
		"169.254.169.254": false, "0.0.0.0": false, "100.64.0.1": false, "224.0.0.1": false,
		"::1": false, "::": false, "fd00::1": false, "fe80::1": false, "ff02::1": false,
		"::ffff:127.0.0.1": false, "::ffff:8.8.8.8": false, "64:ff9b::a00:1": false,
	} {
		if got := Public(netip.MustParseAddr(s)); got != want {
			t.Errorf("Public(%s) = %v, want %v", s, got, want)
		}
	}
}

// The refusal is the dialer's, after resolution: even a host allowed by
// name ("localhost" here) is not fetched from a loopback address.
func TestLoopbackIsRefusedByTheDialer(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("instance metadata"))
	}))
	defer srv.Close()
	u, _ := url.Parse(srv.URL)
	for _, host := range []string{"localhost", u.Hostname()} {
		raw := "https://" + host + ":" + u.Port() + "/latest/meta-data/"
		resp, err := Fetch(context.Background(), NewClient([]string{host}), raw, []string{host})
		if err == nil {
			resp.Body.Close()
			t.Fatalf("%s: fetched (%s)", raw, resp.Status)
		}
		if !errors.Is(err, ErrRefused) {
			t.Errorf("%s: %v, want ErrRefused", raw, err)
		}
	}
}

// A redirect to a URL that is not allowed is not followed.
func TestRedirectOutOfTheHostsIsRefused(t *testing.T) {
	inner := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Errorf("the internal server was reached")
	}))
	defer inner.Close()
	c := NewClient(nil)
	req := &http.Request{URL: mustURL(inner.URL + "/latest/meta-data/")}
	if err := c.CheckRedirect(req, []*http.Request{{URL: mustURL("https://replicate.delivery/x.png")}}); !errors.Is(err, ErrRefused) {
		t.Errorf("redirect to %s: %v, want ErrRefused", inner.URL, err)
	}
	if err := c.CheckRedirect(&http.Request{URL: mustURL("https://pbxt.replicate.delivery/y.png")}, nil); err != nil {
		t.Errorf("redirect within the hosts: %v", err)
	}
}

func mustURL(s string) *url.URL {
	u, err := url.Parse(s)
	if err != nil {
		panic(err)
	}
	return u
}

// Trusting takes its exact origins and nothing more: another port on the
// same loopback address is still refused, by the check and by the dialer.
func TestTrustingIsExact(t *testing.T) {
	ok := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("result")) }))
	defer ok.Close()
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Errorf("an origin not trusted was reached")
	}))
	defer other.Close()
	check, c := Trusting(nil, []string{ok.URL})
	if err := check(ok.URL + "/out.png"); err != nil {
		t.Errorf("trusted origin: %v", err)
	}
	if err := check(other.URL + "/out.png"); !errors.Is(err, ErrRefused) {
		t.Errorf("other origin: %v, want ErrRefused", err)
	}
	resp, err := c.Get(ok.URL + "/out.png")
	if err != nil {
		t.Fatalf("trusted origin: %v", err)
	}
	resp.Body.Close()
	if resp, err := c.Get(other.URL + "/out.png"); !errors.Is(err, ErrRefused) {
		if err == nil {
			resp.Body.Close()
		}
		t.Errorf("dialing another origin: %v, want ErrRefused", err)
	}
}
