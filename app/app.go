// Package app is the local web app of 'rrec app': an HTTP server on loopback that serves a
// few embedded pages and JSON routes over one identity's client.Session. The keys stay in
// this process: the page only ever sees record ids, names, public identities and plaintext
// the user asked to download.
//
// Every request must carry the session token the app was started with (in the URL once, then
// in an HttpOnly, SameSite=Strict cookie), name the loopback address the app listens on as
// its Host (against DNS rebinding), and, when it has an Origin, come from that same address
// (against cross-site requests). The JSON routes are described in docs/app.md.
package app

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"sync"

	"github.com/resilientrecords/resilientrecords/client"
	"github.com/resilientrecords/resilientrecords/contacts"
	"github.com/resilientrecords/resilientrecords/identity"
)

// Options tune an App. The zero value is ready to use.
type Options struct {
	// Identity is the session's secret identity. With it the app reads the name and type of
	// records that were put elsewhere (by 'rrec put'): it fetches each record's header and
	// opens it here. Without it, only records uploaded through this app have names.
	Identity *identity.Identity
	// TempDir holds uploads being sealed and downloads waiting to be saved ("": the system's
	// temporary directory). Downloads are plaintext, removed once saved or after a while.
	TempDir string
	// MaxUpload bounds one upload (0: 4 GiB).
	MaxUpload int64
	// Contacts names people in the pages and takes names where an identity is asked for
	// (nil: an empty book kept in memory).
	Contacts *contacts.Book
	// Logger gets one line per failed request, never a token or a key (nil: none).
	Logger *slog.Logger

	// OpenSession starts the session of an identity made or opened in the page: with it, New
	// accepts a nil session and the app starts in the welcome state (see welcome.go).
	OpenSession func(*identity.Identity) (*client.Session, error)
	// IdentityDir is where an identity created in the page is written (rrec/ under the
	// user's configuration directory, for 'rrec app'); required with OpenSession.
	IdentityDir string
}

// App is the local web app of one identity. It is an http.Handler.
type App struct {
	// s and id are nil in the welcome state, until the page creates or opens an identity;
	// then they are set once, under ready, and never change (see welcome.go).
	ready sync.RWMutex
	s     *client.Session
	id    *identity.Identity
	setup *setup // the welcome state's settings and what it made; nil when started with a session

	host  string // the only Host header accepted, "127.0.0.1:port"
	token string
	log   *slog.Logger
	max   int64
	jobs  *jobs
	names *names
	book  *contacts.Book
	mux   *http.ServeMux
}

// New makes the app of session s, to be served at addr, a loopback TCP address (the
// listener's). It draws a fresh session token.
func New(s *client.Session, addr net.Addr, opts *Options) (*App, error) {
	if opts == nil {
		opts = &Options{}
	}
	if s == nil && (opts.OpenSession == nil || opts.IdentityDir == "") {
		return nil, errors.New("app: without a session, Options.OpenSession and IdentityDir say how to start one")
	}
	ta, ok := addr.(*net.TCPAddr)
	if !ok || !ta.IP.IsLoopback() || ta.Port == 0 {
		return nil, fmt.Errorf("app: %v is not a loopback TCP address with a port: the app serves only this machine", addr)
	}
	var tok [32]byte
	if _, err := rand.Read(tok[:]); err != nil {
		return nil, err
	}
	lg := opts.Logger
	if lg == nil {
		lg = slog.New(slog.DiscardHandler)
	}
	max := opts.MaxUpload
	if max <= 0 {
		max = 4 << 30
	}
	tmp := opts.TempDir
	if tmp == "" {
		tmp = os.TempDir()
	}
	j, err := newJobs(tmp)
	if err != nil {
		return nil, err
	}
	book := opts.Contacts
	if book == nil {
		if book, err = contacts.Open(filepath.Join(j.dir, "contacts")); err != nil {
			return nil, err
		}
	}
	a := &App{s: s, id: opts.Identity, host: ta.String(), token: hex.EncodeToString(tok[:]),
		log: lg, max: max, jobs: j, names: newNames(), book: book}
	if s == nil {
		a.setup = &setup{open: opts.OpenSession, dir: opts.IdentityDir}
	}
	a.routes()
	return a, nil
}

// Token is the session token: whoever holds it can act as this identity through the app.
func (a *App) Token() string { return a.token }

// URL is the address to open in a browser, carrying the token; the app swaps it for a
// cookie on first load and drops it from the address bar.
func (a *App) URL() string {
	return "http://" + a.host + "/?" + url.Values{tokenParam: {a.token}}.Encode()
}

// Close removes the app's temporary files (downloads not yet saved).
func (a *App) Close() error { return a.jobs.close() }

// ServeHTTP checks the request's origin and token, then serves it.
func (a *App) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	secureHeaders(w.Header())
	if msg, ok := a.sameOrigin(r); !ok {
		a.log.Info("request refused", "path", r.URL.Path, "why", msg)
		writeProblem(w, http.StatusForbidden, "forbidden", msg)
		return
	}
	if r.URL.Query().Has(tokenParam) {
		a.exchangeToken(w, r)
		return
	}
	if !a.authorised(r) {
		a.log.Info("request refused", "path", r.URL.Path, "why", "no session token")
		if r.Method == http.MethodGet && !isAPI(r) {
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			w.WriteHeader(http.StatusUnauthorized)
			fmt.Fprint(w, noTokenPage)
			return
		}
		writeProblem(w, http.StatusUnauthorized, "no_session", "This page needs the link 'rrec app' printed when it started: open that link again.")
		return
	}
	if isAPI(r) && !isWelcomeRoute(r) && !a.hasSession() {
		writeProblem(w, http.StatusConflict, "no_identity", "Create your identity or open your identity file first.")
		return
	}
	a.mux.ServeHTTP(w, r)
}

func (a *App) routes() {
	m := http.NewServeMux()
	m.Handle("/", staticHandler())
	m.HandleFunc("GET /api/me", a.me)
	m.HandleFunc("GET /api/network", a.network)
	m.HandleFunc("GET /api/records", a.records)
	m.HandleFunc("POST /api/records", a.upload)
	m.HandleFunc("GET /api/records/{record}/grants", a.recordGrants)
	m.HandleFunc("POST /api/records/{record}/grants", a.grant)
	m.HandleFunc("GET /api/records/{record}/history", a.history)
	m.HandleFunc("POST /api/records/{record}/erase", a.erase)
	m.HandleFunc("GET /api/shares", a.shares)
	m.HandleFunc("POST /api/grants/{grant}/revoke", a.revoke)
	m.HandleFunc("GET /api/shared", a.shared)
	m.HandleFunc("POST /api/records/{record}/open", a.open)
	m.HandleFunc("GET /api/contacts", a.listContacts)
	m.HandleFunc("POST /api/contacts", a.addContact)
	m.HandleFunc("DELETE /api/contacts/{name}", a.removeContact)
	m.HandleFunc("GET /api/progress/{job}", a.progress)
	m.HandleFunc("GET /api/downloads/{job}", a.download)
	m.HandleFunc("POST /api/identity/create", a.createIdentity)
	m.HandleFunc("POST /api/identity/open", a.openIdentity)
	m.HandleFunc("GET /api/identity/backup", a.backup)
	m.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		writeProblem(w, http.StatusNotFound, "not_found", "The app has no such route.")
	})
	a.mux = m
}

func isAPI(r *http.Request) bool {
	return len(r.URL.Path) >= 5 && r.URL.Path[:5] == "/api/"
}

// intParam reads a non-negative integer query parameter (missing: def).
func intParam(r *http.Request, name string, def int64) (int64, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return 0, errors.New(name + " must be a whole number")
	}
	return n, nil
}
