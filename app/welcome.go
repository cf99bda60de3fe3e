package app

import (
	"errors"
	"fmt"
	"io/fs"
	"mime"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/resilientrecords/resilientrecords/client"
	"github.com/resilientrecords/resilientrecords/identity"
)

// The welcome state: 'rrec app' started without an identity serves the page, which offers to
// create one or to open an identity file already on this computer. Either happens here, in
// this process: the passphrase comes over the loopback session, is used, and is neither
// stored nor logged; the seed and the keys never go to the page. Once an identity is open,
// the session starts and the app is as if it had been started with it.

// setup is what the welcome state needs, and the identity file it created.
type setup struct {
	open func(*identity.Identity) (*client.Session, error)
	dir  string // where a new identity file goes

	// mu lets one creation or opening run at a time: each costs a second of scrypt and
	// 256 MiB, and only the first may start the session.
	mu      sync.Mutex
	created string // the file created in this run, offered for backup ("": none)
}

// defaultIdentityName is the file a new identity is written to in setup.dir, and the one the
// welcome page suggests opening when it is already there.
const defaultIdentityName = "identity.key"

// minPassphrase is the fewest characters the page accepts for a new passphrase: every guess
// at a stolen file costs a second, and a short one is guessed in days.
const minPassphrase = 10

func (a *App) hasSession() bool {
	a.ready.RLock()
	defer a.ready.RUnlock()
	return a.s != nil
}

// startSession leaves the welcome state. s and id are set once: after hasSession reports
// true (under the same lock), handlers read them without locking.
func (a *App) startSession(s *client.Session, id *identity.Identity) {
	a.ready.Lock()
	defer a.ready.Unlock()
	a.s, a.id = s, id
}

// isWelcomeRoute reports whether r is one of the routes that work without an identity.
func isWelcomeRoute(r *http.Request) bool {
	return r.URL.Path == "/api/me" || strings.HasPrefix(r.URL.Path, "/api/identity/")
}

// me is who the app acts for, or, in the welcome state, what the welcome page offers.
func (a *App) me(w http.ResponseWriter, r *http.Request) {
	if !a.hasSession() {
		v := map[string]any{"welcome": true, "create_in": shownPath(a.setup.dir)}
		if p := filepath.Join(a.setup.dir, defaultIdentityName); fileExists(p) {
			v["existing"] = shownPath(p) // the open form takes "~/" back
		}
		writeJSON(w, http.StatusOK, v)
		return
	}
	v := map[string]any{"identity": a.s.Identity().String(), "chain": a.s.Network().ChainID}
	if a.setup != nil {
		a.setup.mu.Lock()
		if a.setup.created != "" {
			v["identity_file"], v["backup"] = shownPath(a.setup.created), "/api/identity/backup"
		}
		a.setup.mu.Unlock()
	}
	writeJSON(w, http.StatusOK, v)
}

// createIdentity makes a new identity, writes it sealed under the passphrase the page sent,
// and starts its session. The page then offers the file as a backup download.
func (a *App) createIdentity(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Passphrase string `json:"passphrase"`
	}
	if !readJSON(w, r, &req) || !a.welcoming(w) {
		return
	}
	if utf8.RuneCountInString(req.Passphrase) < minPassphrase {
		badRequest(w, fmt.Sprintf("Choose a passphrase of at least %d characters: a few words you will remember make a good one.", minPassphrase))
		return
	}
	a.setup.mu.Lock()
	defer a.setup.mu.Unlock()
	if !a.welcoming(w) { // another request opened one meanwhile
		return
	}
	id, err := identity.Generate()
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	path, err := writeNewIdentity(a.setup.dir, id, []byte(req.Passphrase))
	if err != nil {
		a.log.Warn("creating an identity failed", "dir", a.setup.dir, "err", err)
		writeProblem(w, http.StatusInternalServerError, "failed", "Your identity could not be saved in "+a.setup.dir+": "+plainError(err)+".")
		return
	}
	a.setup.created = path
	s, err := a.setup.open(id)
	if err != nil {
		a.log.Warn("starting the session failed", "err", err)
		writeProblem(w, http.StatusInternalServerError, "failed", "Your identity is saved in "+path+", but the app could not start with it. Start 'rrec app' again and open that file.")
		return
	}
	a.startSession(s, id)
	writeJSON(w, http.StatusCreated, map[string]any{"identity": id.Public().String(), "identity_file": shownPath(path), "backup": "/api/identity/backup"})
}

// openIdentity opens an identity file on this computer, with its passphrase if it has one,
// and starts its session.
func (a *App) openIdentity(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Path       string `json:"path"`
		Passphrase string `json:"passphrase"`
	}
	if !readJSON(w, r, &req) || !a.welcoming(w) {
		return
	}
	path := expandHome(strings.TrimSpace(req.Path))
	if path == "" {
		badRequest(w, "Type where your identity file is on this computer, such as /home/you/identity.key.")
		return
	}
	if code, msg := checkIdentityFile(path); code != "" {
		writeProblem(w, http.StatusBadRequest, code, msg)
		return
	}
	var ask func() ([]byte, error) // nil: the file must have no passphrase
	if req.Passphrase != "" {
		ask = func() ([]byte, error) { return []byte(req.Passphrase), nil }
	}
	a.setup.mu.Lock()
	defer a.setup.mu.Unlock()
	if !a.welcoming(w) {
		return
	}
	id, err := identity.Open(path, ask)
	switch {
	case errors.Is(err, identity.ErrWrongPassphrase):
		writeProblem(w, http.StatusBadRequest, "wrong_passphrase", "That passphrase does not open this identity file. Check it and try again: capital letters and spaces count.")
		return
	case errors.Is(err, identity.ErrProtected):
		writeProblem(w, http.StatusBadRequest, "passphrase_needed", "This identity file is protected by a passphrase: type it in the passphrase box.")
		return
	case errors.Is(err, identity.ErrMalformed):
		writeProblem(w, http.StatusBadRequest, "not_identity", "This file is not a Resilient Records identity file: it should hold a line starting with RREC-.")
		return
	case err != nil:
		writeProblem(w, http.StatusBadRequest, "cannot_open", "The identity file could not be opened: "+plainError(err)+".")
		return
	}
	s, err := a.setup.open(id)
	if err != nil {
		a.log.Warn("starting the session failed", "err", err)
		writeProblem(w, http.StatusInternalServerError, "failed", "The identity opened, but the app could not start with it. Check the network with 'rrec status', then try again.")
		return
	}
	a.startSession(s, id)
	writeJSON(w, http.StatusOK, map[string]any{"identity": id.Public().String(), "identity_file": shownPath(path)})
}

// backup serves the identity file created in this run, sealed as it is on disk, as a
// download: the page links to it and never reads it.
func (a *App) backup(w http.ResponseWriter, r *http.Request) {
	var path string
	if a.setup != nil {
		a.setup.mu.Lock()
		path = a.setup.created
		a.setup.mu.Unlock()
	}
	if path == "" {
		writeProblem(w, http.StatusNotFound, "not_found", "Only an identity created in this app can be downloaded here. To back up another, copy its file.")
		return
	}
	b, err := os.ReadFile(path)
	if err != nil || !identity.IsProtected(b) {
		// A file changed since it was written is not what the user is told they are saving.
		a.log.Warn("the new identity file cannot be offered", "path", path, "err", err)
		writeProblem(w, http.StatusNotFound, "not_found", "The identity file "+path+" is no longer as the app wrote it: copy it yourself.")
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": filepath.Base(path)}))
	w.Write(b)
}

// welcoming answers false, with a problem, when the app already has its identity.
func (a *App) welcoming(w http.ResponseWriter) bool {
	if a.setup == nil || a.hasSession() {
		writeProblem(w, http.StatusConflict, "has_identity", "This app already has its identity. To use another, stop 'rrec app' and start it again.")
		return false
	}
	return true
}

// writeNewIdentity writes id, sealed under pass, as identity.key in dir, or identity-2.key
// and on when that is taken: an existing identity is never overwritten.
func writeNewIdentity(dir string, id *identity.Identity, pass []byte) (string, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	for i := 1; i <= 100; i++ {
		name := defaultIdentityName
		if i > 1 {
			name = fmt.Sprintf("identity-%d.key", i)
		}
		path := filepath.Join(dir, name)
		if fileExists(path) {
			continue
		}
		err := identity.WriteProtectedFile(path, id, pass, identity.DefaultWorkFactor)
		if err != nil && fileExists(path) {
			continue // made meanwhile by someone else
		}
		return path, err
	}
	return "", errors.New("there are already 100 identity files there")
}

// checkIdentityFile says, before the file is read, why it cannot be used: missing, a folder,
// or readable by others (whose keys must be thought copied, as ssh treats private keys).
func checkIdentityFile(path string) (code, msg string) {
	fi, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return "not_found", "There is no file at " + path + ". Check the spelling; the full path is safest, such as /home/you/identity.key."
	case errors.Is(err, fs.ErrPermission):
		return "cannot_open", "The app is not allowed to read " + path + ": it must belong to the user running 'rrec app'."
	case err != nil:
		return "cannot_open", "The identity file could not be read: " + plainError(err) + "."
	case fi.IsDir():
		return "bad_request", path + " is a folder: give the identity file inside it."
	case fi.Mode().Perm()&0o077 != 0:
		return "file_exposed", fmt.Sprintf("Other people on this computer can read %s, so the app will not use it: its keys may have been copied. "+
			"If only you can have read it, make it private by running  chmod 600 %s  in a terminal, then try again.", path, shellQuote(path))
	}
	return "", ""
}

func fileExists(path string) bool {
	_, err := os.Lstat(path)
	return err == nil
}

// expandHome reads a leading ~/ as the user's home, as a shell would.
// shownPath is path as a person reads it: under their home directory, from "~/".
func shownPath(path string) string {
	home, err := os.UserHomeDir()
	if err != nil || home == "" {
		return path
	}
	if rel, err := filepath.Rel(home, path); err == nil && filepath.IsLocal(rel) {
		return "~/" + filepath.ToSlash(rel)
	}
	return path
}

func expandHome(path string) string {
	if rest, ok := strings.CutPrefix(path, "~/"); ok {
		if home, err := os.UserHomeDir(); err == nil {
			return filepath.Join(home, rest)
		}
	}
	return path
}

// shellQuote quotes path for the command the page suggests, when it needs it.
func shellQuote(path string) string {
	if !strings.ContainsAny(path, " '\"\\$`!*?[]{}()&;|<>#~") {
		return path
	}
	return "'" + strings.ReplaceAll(path, "'", `'\''`) + "'"
}

// plainError is an error of the identity package without its "identity: " prefix.
func plainError(err error) string {
	return strings.TrimPrefix(err.Error(), "identity: ")
}
