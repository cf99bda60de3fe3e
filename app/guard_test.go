package app

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/resilientrecords/resilientrecords/client"
	"github.com/resilientrecords/resilientrecords/identity"
	"github.com/resilientrecords/resilientrecords/protocol"
)

// testApp is an app over a session whose one node never answers: enough for the routes that
// need no network, and for every refusal, which comes before the session is used.
func testApp(t *testing.T) *App {
	t.Helper()
	id, err := identity.Generate()
	if err != nil {
		t.Fatal(err)
	}
	nodeKey, err := identity.Generate()
	if err != nil {
		t.Fatal(err)
	}
	nw := &protocol.Network{ChainID: "rr-test", Nodes: []protocol.Node{{Name: "node0", API: "http://127.0.0.1:9",
		ProxyKey: protocol.PubKeyOf(nodeKey.Public().Signing)}}}
	s, err := client.New(nw, id, nil)
	if err != nil {
		t.Fatal(err)
	}
	a, err := New(s, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 4711}, &Options{TempDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	return a
}

func serve(a *App, r *http.Request) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	a.ServeHTTP(w, r)
	return w
}

func TestNewRefusesNonLoopback(t *testing.T) {
	id, _ := identity.Generate()
	nw := &protocol.Network{ChainID: "rr-test", Nodes: []protocol.Node{{Name: "n", API: "http://127.0.0.1:9", ProxyKey: protocol.PubKeyOf(id.Public().Signing)}}}
	s, err := client.New(nw, id, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, addr := range []net.Addr{
		&net.TCPAddr{IP: net.IPv4(0, 0, 0, 0), Port: 80},
		&net.TCPAddr{IP: net.IPv4(192, 168, 1, 2), Port: 80},
		&net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 0},
		&net.UnixAddr{Name: "/tmp/x", Net: "unix"},
	} {
		if _, err := New(s, addr, nil); err == nil {
			t.Errorf("New(%v) served a non-loopback address", addr)
		}
	}
}

func TestGuard(t *testing.T) {
	a := testApp(t)
	base := "http://127.0.0.1:4711"
	cookie := &http.Cookie{Name: a.cookieName(), Value: a.token}
	cases := []struct {
		name   string
		req    func() *http.Request
		status int
	}{
		{"no token", func() *http.Request { return httptest.NewRequest("GET", base+"/api/me", nil) }, http.StatusUnauthorized},
		{"no token, page", func() *http.Request { return httptest.NewRequest("GET", base+"/", nil) }, http.StatusUnauthorized},
		{"wrong cookie", func() *http.Request {
			r := httptest.NewRequest("GET", base+"/api/me", nil)
			r.AddCookie(&http.Cookie{Name: a.cookieName(), Value: strings.Repeat("0", len(a.token))})
			return r
		}, http.StatusUnauthorized},
		{"wrong token in URL", func() *http.Request { return httptest.NewRequest("GET", base+"/?token=abc", nil) }, http.StatusUnauthorized},
		{"cookie", func() *http.Request {
			r := httptest.NewRequest("GET", base+"/api/me", nil)
			r.AddCookie(cookie)
			return r
		}, http.StatusOK},
		{"bearer", func() *http.Request {
			r := httptest.NewRequest("GET", base+"/api/me", nil)
			r.Header.Set("Authorization", "Bearer "+a.token)
			return r
		}, http.StatusOK},
		{"rebound host name", func() *http.Request {
			r := httptest.NewRequest("GET", "http://evil.example:4711/api/me", nil)
			r.AddCookie(cookie)
			return r
		}, http.StatusForbidden},
		{"localhost is another origin", func() *http.Request {
			r := httptest.NewRequest("GET", "http://localhost:4711/api/me", nil)
			r.AddCookie(cookie)
			return r
		}, http.StatusForbidden},
		{"foreign origin", func() *http.Request {
			r := httptest.NewRequest("POST", base+"/api/records/"+strings.Repeat("0", 64)+"/erase", strings.NewReader(`{"confirm":true}`))
			r.Header.Set("Origin", "http://127.0.0.1:8080") // same site, other port: cookies would go along
			r.AddCookie(cookie)
			return r
		}, http.StatusForbidden},
		{"cross-site fetch", func() *http.Request {
			r := httptest.NewRequest("GET", base+"/api/me", nil)
			r.Header.Set("Sec-Fetch-Site", "cross-site")
			r.AddCookie(cookie)
			return r
		}, http.StatusForbidden},
		{"POST without origin", func() *http.Request {
			r := httptest.NewRequest("POST", base+"/api/records/"+strings.Repeat("0", 64)+"/erase", strings.NewReader(`{"confirm":true}`))
			r.AddCookie(cookie)
			return r
		}, http.StatusForbidden},
		{"erase needs confirmation", func() *http.Request {
			r := httptest.NewRequest("POST", base+"/api/records/"+strings.Repeat("0", 64)+"/erase", strings.NewReader(`{}`))
			r.Header.Set("Origin", base)
			r.AddCookie(cookie)
			return r
		}, http.StatusBadRequest},
		{"oversized JSON", func() *http.Request {
			r := httptest.NewRequest("POST", base+"/api/records/"+strings.Repeat("0", 64)+"/grants", strings.NewReader(`{"to":"`+strings.Repeat("a", 100<<10)+`"}`))
			r.Header.Set("Origin", base)
			r.AddCookie(cookie)
			return r
		}, http.StatusBadRequest},
	}
	for _, c := range cases {
		if w := serve(a, c.req()); w.Code != c.status {
			t.Errorf("%s: status %d, want %d (%s)", c.name, w.Code, c.status, w.Body)
		}
	}
}

func TestTokenExchange(t *testing.T) {
	a := testApp(t)
	if !strings.HasPrefix(a.URL(), "http://127.0.0.1:4711/?token=") || len(a.Token()) != 64 {
		t.Fatalf("URL %q", a.URL())
	}
	w := serve(a, httptest.NewRequest("GET", a.URL(), nil))
	if w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/" {
		t.Fatalf("token URL: status %d, Location %q; want a redirect to /", w.Code, w.Header().Get("Location"))
	}
	c := w.Result().Cookies()
	if len(c) != 1 || c[0].Value != a.token || !c[0].HttpOnly || c[0].SameSite != http.SameSiteStrictMode || c[0].Name != "rrec_app_4711" {
		t.Fatalf("cookie %+v: want the token, HttpOnly, SameSite=Strict", c)
	}
	r := httptest.NewRequest("GET", "http://127.0.0.1:4711/", nil)
	r.AddCookie(c[0])
	w = serve(a, r)
	if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), "/app.js") {
		t.Fatalf("page with cookie: status %d", w.Code)
	}
	if csp := w.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") {
		t.Errorf("Content-Security-Policy %q", csp)
	}
	// Two apps on one machine, two tokens.
	if b := testApp(t); b.token == a.token {
		t.Error("two apps drew the same token")
	}
}

func TestGrantRefusesBadIdentity(t *testing.T) {
	a := testApp(t)
	r := httptest.NewRequest("POST", "http://127.0.0.1:4711/api/records/"+strings.Repeat("0", 64)+"/grants",
		strings.NewReader(`{"to":"rrec1abc","hours":24,"purpose":"treatment"}`))
	r.Header.Set("Origin", "http://127.0.0.1:4711")
	r.Header.Set("Authorization", "Bearer "+a.token)
	w := serve(a, r)
	if w.Code != http.StatusBadRequest || !strings.Contains(w.Body.String(), "rrec1") {
		t.Fatalf("status %d %s", w.Code, w.Body)
	}
}

// TestRefusalsInWords: every reason a shared record cannot be opened has its own sentence,
// and the status word the pages show.
func TestRefusalsInWords(t *testing.T) {
	for _, c := range []struct {
		err    error
		status string
		words  string
	}{
		{client.ErrRevoked, "revoked", "withdrawn your access"},
		{client.ErrExpired, "expired", "run out"},
		{client.ErrNotYetValid, "not_yet_valid", "not started yet"},
		{client.ErrErased, "erased", "erased this record"},
	} {
		wrapped := fmt.Errorf("grant x: %w", c.err)
		if got := statusWord(wrapped); got != c.status {
			t.Errorf("%v: status %q, want %q", c.err, got, c.status)
		}
		if got := refusal(wrapped); !strings.Contains(got, c.words) {
			t.Errorf("%v: refusal %q", c.err, got)
		}
	}
	if got := statusWord(nil); got != "live" {
		t.Errorf("nil: %q", got)
	}
}

// TestAssetsAreLocal: the pages fetch nothing from anywhere else (no CDN, no web fonts), so
// the app works offline and tells no third party that it runs.
func TestAssetsAreLocal(t *testing.T) {
	entries, err := static.ReadDir("static")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		b, err := static.ReadFile("static/" + e.Name())
		if err != nil {
			t.Fatal(err)
		}
		for _, bad := range []string{"http://", "https://", "//cdn", "@import", "url(http", "fonts.g"} {
			if strings.Contains(string(b), bad) {
				t.Errorf("%s refers to %q: assets must be local", e.Name(), bad)
			}
		}
	}
}
