package app_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/resilientrecords/resilientrecords/app"
	"github.com/resilientrecords/resilientrecords/client"
	"github.com/resilientrecords/resilientrecords/identity"
	"github.com/resilientrecords/resilientrecords/node"
)

// shareLater shares rec with the doctor from tomorrow: the patient's page says when it
// starts, and the doctor's app refuses to open it before then, in words.
func shareLater(t *testing.T, patient, doctor context.Context, p, d *served, rec, shots string) {
	t.Helper()
	do(t, patient, chromedp.Navigate(p.url+"/#/share/"+rec))
	waitReady(t, patient)
	do(t, patient, chromedp.Evaluate[chromedp.Void](`{ const pick = document.getElementById("to-contact");
pick.value = [...pick.options].find(o => o.textContent === "Dr Ada Smith").value;
pick.dispatchEvent(new Event("change", {bubbles: true})) }`), chromedp.Click(chromedp.ID("starts-later")))
	if run(t, patient, chromedp.Evaluate[bool](`document.getElementById("starts-date").disabled`)) {
		t.Error("choosing a later start leaves its day disabled")
	}
	statement := text(t, patient, "#statement")
	for _, w := range []string{"Starting on", "Dr Ada Smith will be able to open", "the network refuses to open it for them", "not earlier"} {
		if !strings.Contains(statement, w) {
			t.Errorf("the statement of a share that starts later, %q, does not say %q", statement, w)
		}
	}
	shot(t, patient, shots, "share-later")
	do(t, patient, chromedp.Click(chromedp.ID("share-submit")))
	waitFor(t, patient, `document.querySelector("#share-result .ok, #share-result .error") !== null`)
	if got := text(t, patient, "#share-result"); !strings.HasPrefix(got, "Shared.") || !strings.Contains(got, "can open “knee-mri.dcm” from ") {
		t.Fatalf("sharing from tomorrow: %q", got)
	}
	do(t, patient, chromedp.Navigate(p.url+"/#/shares"))
	waitReady(t, patient)
	if got := text(t, patient, `tr[data-grant]:has(.badge-not_yet_valid) td[data-label="When"]`); !strings.HasPrefix(got, "From ") {
		t.Errorf("the shares page says the later share lasts %q", got)
	}

	do(t, patient, chromedp.Navigate(p.url+"/#/history/"+rec))
	waitReady(t, patient)
	if got := text(t, patient, `#timeline li[data-kind="grant"]:last-child`); !strings.Contains(got, "starting ") {
		t.Errorf("the history's later share says %q, not when it starts", got)
	}

	const notYet = "Your access to this record has not started yet: try again after the start time the owner set."
	do(t, doctor, chromedp.Navigate(d.url+"/#/shared"), chromedp.Reload())
	waitReady(t, doctor)
	waitFor(t, doctor, `document.querySelector('li.card[data-status="not_yet_valid"] .refusal') !== null`)
	if got := text(t, doctor, `li.card[data-status="not_yet_valid"] .refusal`); !strings.HasPrefix(got, notYet+" It starts on ") {
		t.Errorf("the doctor's card of the later share reads %q", got)
	}
	// Opening it anyway, as a page loaded before would, is refused the same way.
	got := run(t, doctor, chromedp.Evaluate[string](`fetch("/api/records/`+rec+`/open", {method: "POST",
  headers: {"Content-Type": "application/json"}, body: JSON.stringify({purpose: "treatment"})})
  .then(async r => r.status + " " + (await r.json()).message)`, chromedp.EvalAwaitPromise))
	if got != "403 "+notYet {
		t.Errorf("opening the later share answers %q", got)
	}
}

// newcomer is someone without an identity: the app starts in the welcome state, refuses to
// open wrong files in words, creates an identity under a passphrase, offers its backup (the
// download is the sealed file, which opens with the passphrase), and then stores a record.
func newcomer(t *testing.T, browserCtx context.Context, nw *node.LocalNet, files, shots string) {
	t.Helper()
	const passphrase = "correct horse battery staple"
	// The page shows paths under the home directory from "~/", so the screenshots show what
	// a user would see rather than the test's temporary directory.
	home := t.TempDir()
	t.Setenv("HOME", home)
	idDir := filepath.Join(home, ".config", "rrec")
	tmp := t.TempDir()
	var made atomic.Pointer[identity.Identity]
	opts := &app.Options{IdentityDir: idDir, OpenSession: func(id *identity.Identity) (*client.Session, error) {
		made.Store(id)
		return client.New(mustDesc(t, nw), id, &client.Options{TempDir: tmp})
	}}
	sv := serveApp(t, nil, opts, func() [][]byte {
		secrets := [][]byte{[]byte(passphrase)}
		if id := made.Load(); id != nil {
			line, _ := id.MarshalText()
			secrets = append(secrets, line)
		}
		return secrets
	})
	ctx, cancel := newBrowserContext(t, browserCtx)
	defer cancel()

	do(t, ctx, chromedp.EmulateViewport(1280, 900), chromedp.Navigate(sv.app.URL()))
	waitReady(t, ctx)
	if got := text(t, ctx, "h1"); got != "Welcome" {
		t.Fatalf("without an identity the app opens on %q", got)
	}
	if !run(t, ctx, chromedp.Evaluate[bool](`document.querySelector("header nav").hidden`)) {
		t.Error("the welcome page shows the pages that need an identity")
	}
	if got := run(t, ctx, chromedp.Evaluate[string](`fetch("/api/records").then(r => r.json()).then(j => j.code)`, chromedp.EvalAwaitPromise)); got != "no_identity" {
		t.Errorf("GET /api/records without an identity: %q", got)
	}
	shotBoth(t, ctx, shots, "welcome")

	// Files that cannot be used are refused, each in a sentence.
	old := filepath.Join(t.TempDir(), "old.key")
	oldID, _ := identity.Generate()
	if err := identity.WriteProtectedFile(old, oldID, []byte("an older passphrase"), identity.MinWorkFactor); err != nil {
		t.Fatal(err)
	}
	openFile := func(path, pass, want string) {
		t.Helper()
		do(t, ctx, chromedp.Evaluate[chromedp.Void](`document.getElementById("open-result").replaceChildren();
document.getElementById("open-path").value = `+strconvQuote(path)+`;
document.getElementById("open-pass").value = `+strconvQuote(pass)),
			chromedp.Click(chromedp.ID("open-submit")))
		waitFor(t, ctx, `document.querySelector("#open-result .error") !== null`)
		if got := text(t, ctx, "#open-result .error"); !strings.Contains(got, want) {
			t.Errorf("opening %s: the page says %q, want it to say %q", filepath.Base(path), got, want)
		}
	}
	openFile(filepath.Join(filepath.Dir(old), "nowhere.key"), "", "There is no file at")
	if err := os.Chmod(old, 0o644); err != nil {
		t.Fatal(err)
	}
	openFile(old, "an older passphrase", "chmod 600 "+old)
	if err := os.Chmod(old, 0o600); err != nil {
		t.Fatal(err)
	}
	openFile(old, "not the passphrase", "That passphrase does not open this identity file.")
	openFile(old, "", "This identity file is protected by a passphrase")

	// Create an identity.
	do(t, ctx, chromedp.SendKeys(chromedp.ID("create-pass"), passphrase),
		chromedp.SendKeys(chromedp.ID("create-pass-again"), passphrase),
		chromedp.Click(chromedp.ID("create-submit")))
	waitFor(t, ctx, `location.hash === "#/backup"`)
	waitReady(t, ctx)
	if got := text(t, ctx, "h1"); got != "Save a copy of your identity" {
		t.Fatalf("after creating the identity the page is %q", got)
	}
	file := filepath.Join(idDir, "identity.key")
	if got := text(t, ctx, "#identity-file"); got != "~/.config/rrec/identity.key" {
		t.Errorf("the page says the identity is in %q, want ~/.config/rrec/identity.key", got)
	}
	if !run(t, ctx, chromedp.Evaluate[bool](`document.getElementById("backup-continue").disabled`)) {
		t.Error("the page lets the user go on before they said they saved a copy")
	}
	shotBoth(t, ctx, shots, "backup")

	// The backup is the sealed file, byte for byte, and it opens with the passphrase.
	onDisk, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(file); fi.Mode().Perm() != 0o600 {
		t.Errorf("the new identity file has mode %v", fi.Mode())
	}
	downloads := t.TempDir()
	allowDownloads(t, ctx, downloads)
	do(t, ctx, chromedp.Click(chromedp.ID("backup-download")))
	saved := waitFile(t, filepath.Join(downloads, "identity.key"), int64(len(onDisk)))
	if !bytes.Equal(saved, onDisk) || !identity.IsProtected(saved) {
		t.Fatalf("the backup is not the protected identity file:\n%s", saved)
	}
	backup := filepath.Join(t.TempDir(), "backup.key")
	if err := os.WriteFile(backup, saved, 0o600); err != nil {
		t.Fatal(err)
	}
	id, err := identity.Open(backup, func() ([]byte, error) { return []byte(passphrase), nil })
	if err != nil {
		t.Fatal(err)
	}
	if made.Load() == nil || !id.Public().Equal(made.Load().Public()) {
		t.Fatal("the backup holds another identity than the app's")
	}
	if _, err := identity.Open(backup, func() ([]byte, error) { return []byte("a guess"), nil }); !errors.Is(err, identity.ErrWrongPassphrase) {
		t.Errorf("the backup with a wrong passphrase: %v", err)
	}

	// On to the records, and store one with the new identity.
	do(t, ctx, chromedp.Click(chromedp.ID("backup-confirm")), chromedp.Click(chromedp.ID("backup-continue")))
	waitFor(t, ctx, `location.hash === "#/records"`)
	waitReady(t, ctx)
	if got := run(t, ctx, chromedp.Evaluate[string](`fetch("/api/me").then(r => r.json()).then(j => j.identity)`, chromedp.EvalAwaitPromise)); got != id.Public().String() {
		t.Errorf("the app acts for %q, want the new identity %s", got, id.Public())
	}
	note := filepath.Join(files, "vaccinations.txt")
	if err := os.WriteFile(note, []byte("tetanus 2024\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	do(t, ctx, chromedp.SetUploadFiles(chromedp.ID("file"), []string{note}))
	waitFor(t, ctx, `[...document.querySelectorAll("#records tr .name")].some(e => e.textContent === "vaccinations.txt")`)
	c, cancelC := context.WithTimeout(context.Background(), wait)
	defer cancelC()
	if recs, err := newSession(t, nw, id).Records(c); err != nil || len(recs) != 1 {
		t.Errorf("the new identity's records: %d, %v", len(recs), err)
	}

	// The app keeps its identity: another creation is refused.
	if got := run(t, ctx, chromedp.Evaluate[string](`fetch("/api/identity/create", {method: "POST",
  headers: {"Content-Type": "application/json"}, body: JSON.stringify({passphrase: "another long passphrase"})})
  .then(r => r.json()).then(j => j.code)`, chromedp.EvalAwaitPromise)); got != "has_identity" {
		t.Errorf("a second identity: %q", got)
	}
	checkNoLeaks(t, sv)
}

// shotBoth writes a screenshot of the page as it is now at desktop and phone width, for
// pages that cannot be loaded again by address (the welcome, before the identity exists).
func shotBoth(t *testing.T, ctx context.Context, dir, name string) {
	t.Helper()
	if dir == "" {
		return
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, w := range []struct {
		name          string
		width, height int64
	}{{"desktop", 1280, 860}, {"phone", 390, 844}} {
		do(t, ctx, chromedp.EmulateViewport(w.width, w.height))
		png := run(t, ctx, chromedp.FullScreenshot(100))
		if err := os.WriteFile(filepath.Join(dir, name+"-"+w.name+".png"), png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	do(t, ctx, chromedp.EmulateViewport(1280, 900))
}
