package kubo

import (
	"net/url"
	"testing"
)

func TestParseAPIAddr(t *testing.T) {
	good := map[string]string{
		"/ip4/127.0.0.1/tcp/5001":      "http://127.0.0.1:5001",
		"/ip4/127.0.0.1/tcp/5001/http": "http://127.0.0.1:5001",
		"/ip6/::1/tcp/45001\n":         "http://[::1]:45001",
		"/dns4/localhost/tcp/5001":     "http://localhost:5001",
		"http://127.0.0.1:5001":        "http://127.0.0.1:5001",
		"https://node.example:443/":    "https://node.example:443",
		"127.0.0.1:5001":               "http://127.0.0.1:5001",
	}
	for in, want := range good {
		got, err := ParseAPIAddr(in)
		if err != nil || got != want {
			t.Errorf("ParseAPIAddr(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{
		"", "/ip4/127.0.0.1/udp/5001", "/ip4/::1/tcp/1", "/ip4/127.0.0.1/tcp/0", "/ip4/127.0.0.1/tcp/65536",
		"/unix/tmp/api.sock", "/ip4/127.0.0.1/tcp/5001/https", "http://127.0.0.1:5001/api", "http://u:p@h:1",
		"127.0.0.1", "/ip4/127.0.0.1/tcp/05001", "/dns4/a@b/tcp/1",
	} {
		if got, err := ParseAPIAddr(in); err == nil {
			t.Errorf("ParseAPIAddr(%q) = %q; want an error", in, got)
		}
	}
}

func FuzzParseAPIAddr(f *testing.F) {
	for _, s := range []string{"/ip4/127.0.0.1/tcp/5001", "/ip6/::1/tcp/1/http", "http://[::1]:80", "h:1", "/dns/x/tcp/9"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		base, err := ParseAPIAddr(s)
		if err != nil {
			return
		}
		u, err := url.Parse(base)
		if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") || u.Path != "" {
			t.Fatalf("ParseAPIAddr(%q) = %q, not a scheme://host:port URL", s, base)
		}
		if again, err := ParseAPIAddr(base); err != nil || again != base {
			t.Fatalf("ParseAPIAddr(%q) = %q, which does not parse back to itself (%q, %v)", s, base, again, err)
		}
	})
}
