package app

import (
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/resilientrecords/resilientrecords/client"
	"github.com/resilientrecords/resilientrecords/identity"
	"github.com/resilientrecords/resilientrecords/protocol"
)

// welcomeApp is an app started without an identity, whose sessions go to a network that
// never answers: the welcome routes need none.
func welcomeApp(t *testing.T, dir string) *App {
	t.Helper()
	nodeKey, _ := identity.Generate()
	nw := &protocol.Network{ChainID: "rr-test", Nodes: []protocol.Node{{Name: "node0", API: "http://127.0.0.1:9",
		ProxyKey: protocol.PubKeyOf(nodeKey.Public().Signing)}}}
	a, err := New(nil, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 4711}, &Options{TempDir: t.TempDir(), IdentityDir: dir,
		OpenSession: func(id *identity.Identity) (*client.Session, error) { return client.New(nw, id, nil) }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	return a
}

// call sends a request as the app's page does, and decodes a JSON answer into out (nil: none).
func call(t *testing.T, a *App, method, path, body string, out any) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest(method, "http://127.0.0.1:4711"+path, strings.NewReader(body))
	r.Header.Set("Origin", "http://127.0.0.1:4711")
	r.AddCookie(&http.Cookie{Name: a.cookieName(), Value: a.token})
	w := serve(a, r)
	if out != nil {
		if err := json.Unmarshal(w.Body.Bytes(), out); err != nil {
			t.Fatalf("%s %s: %v (%s)", method, path, err, w.Body)
		}
	}
	return w
}

func TestNewWithoutSessionNeedsAWayToStartOne(t *testing.T) {
	if _, err := New(nil, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 4711}, nil); err == nil {
		t.Error("New without a session nor OpenSession succeeded")
	}
}

func TestWelcomeOpen(t *testing.T) {
	dir := t.TempDir()
	a := welcomeApp(t, filepath.Join(dir, "rrec"))
	var me map[string]any
	call(t, a, "GET", "/api/me", "", &me)
	if me["welcome"] != true || me["existing"] != nil {
		t.Errorf("/api/me without an identity: %v", me)
	}
	var p problem
	if w := call(t, a, "GET", "/api/records", "", &p); w.Code != http.StatusConflict || p.Code != "no_identity" {
		t.Errorf("/api/records without an identity: %d %+v", w.Code, p)
	}
	if w := call(t, a, "GET", "/api/identity/backup", "", &p); w.Code != http.StatusNotFound {
		t.Errorf("a backup before any identity was made: %d %+v", w.Code, p)
	}

	id, _ := identity.Generate()
	file := filepath.Join(dir, "mine.key")
	if err := identity.WriteProtectedFile(file, id, []byte("open sesame, please"), identity.MinWorkFactor); err != nil {
		t.Fatal(err)
	}
	open := func(path, pass string) (int, problem) {
		b, _ := json.Marshal(map[string]string{"path": path, "passphrase": pass})
		var p problem
		w := call(t, a, "POST", "/api/identity/open", string(b), &p)
		if strings.Contains(w.Body.String(), pass) && pass != "" {
			t.Errorf("the answer repeats the passphrase: %s", w.Body)
		}
		return w.Code, p
	}
	for _, c := range []struct {
		path, pass, code string
		mode             os.FileMode
	}{
		{filepath.Join(dir, "none.key"), "", "not_found", 0o600},
		{dir, "", "bad_request", 0o600},
		{file, "open sesame, please", "file_exposed", 0o640},
		{file, "", "passphrase_needed", 0o600},
		{file, "not it at all", "wrong_passphrase", 0o600},
	} {
		if err := os.Chmod(file, c.mode); err != nil {
			t.Fatal(err)
		}
		if status, p := open(c.path, c.pass); status != http.StatusBadRequest || p.Code != c.code {
			t.Errorf("opening %s: %d %+v, want %s", filepath.Base(c.path), status, p, c.code)
		} else if c.code == "file_exposed" && !strings.Contains(p.Message, "chmod 600 "+file) {
			t.Errorf("the refusal of a file others can read does not say how to fix it: %q", p.Message)
		}
	}
	var ok map[string]any
	if w := call(t, a, "POST", "/api/identity/open", `{"path": "`+file+`", "passphrase": "open sesame, please"}`, &ok); w.Code != http.StatusOK || ok["identity"] != id.Public().String() {
		t.Fatalf("opening with the passphrase: %d %v", w.Code, ok)
	}
	call(t, a, "GET", "/api/me", "", &me)
	if me["identity"] != id.Public().String() || me["backup"] != nil {
		t.Errorf("/api/me after opening: %v", me)
	}
	if w := call(t, a, "POST", "/api/identity/open", `{"path": "`+file+`", "passphrase": "open sesame, please"}`, &p); w.Code != http.StatusConflict || p.Code != "has_identity" {
		t.Errorf("opening a second identity: %d %+v", w.Code, p)
	}
}

func TestWelcomeCreate(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "config", "rrec")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	taken := filepath.Join(dir, "identity.key")
	if err := os.WriteFile(taken, []byte("an older identity\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	a := welcomeApp(t, dir)
	var me map[string]any
	call(t, a, "GET", "/api/me", "", &me)
	if me["existing"] != taken {
		t.Errorf("/api/me does not offer the identity file already there: %v", me)
	}
	var p problem
	if w := call(t, a, "POST", "/api/identity/create", `{"passphrase": "short"}`, &p); w.Code != http.StatusBadRequest || !strings.Contains(p.Message, "at least 10") {
		t.Errorf("a short passphrase: %d %+v", w.Code, p)
	}
	const pass = "a passphrase long enough"
	var made map[string]any
	w := call(t, a, "POST", "/api/identity/create", `{"passphrase": "`+pass+`"}`, &made)
	if w.Code != http.StatusCreated || strings.Contains(w.Body.String(), pass) {
		t.Fatalf("creating: %d %s", w.Code, w.Body)
	}
	file := filepath.Join(dir, "identity-2.key") // identity.key was taken: never overwritten
	if made["identity_file"] != file {
		t.Errorf("the identity went to %v, want %s", made["identity_file"], file)
	}
	if b, _ := os.ReadFile(taken); string(b) != "an older identity\n" {
		t.Error("the existing identity file was changed")
	}
	w = call(t, a, "GET", "/api/identity/backup", "", nil)
	onDisk, _ := os.ReadFile(file)
	if w.Code != http.StatusOK || w.Body.String() != string(onDisk) || !identity.IsProtected(onDisk) {
		t.Fatalf("the backup: %d %q", w.Code, w.Body)
	}
	if cd := w.Header().Get("Content-Disposition"); cd != "attachment; filename=identity-2.key" {
		t.Errorf("the backup's Content-Disposition: %q", cd)
	}
	id, err := identity.Decode(onDisk, func() ([]byte, error) { return []byte(pass), nil })
	if err != nil || id.Public().String() != made["identity"] {
		t.Fatalf("the backup opens as %v, %v; the app made %v", id, err, made["identity"])
	}
	call(t, a, "GET", "/api/me", "", &me)
	if me["identity"] != made["identity"] || me["backup"] != "/api/identity/backup" {
		t.Errorf("/api/me after creating: %v", me)
	}
}
