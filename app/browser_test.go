package app_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/chromedp"

	"github.com/resilientrecords/resilientrecords/app"
	"github.com/resilientrecords/resilientrecords/client"
	"github.com/resilientrecords/resilientrecords/contacts"
	"github.com/resilientrecords/resilientrecords/identity"
	"github.com/resilientrecords/resilientrecords/node"
	"github.com/resilientrecords/resilientrecords/protocol"
)

// wait bounds every wait on the page: generous, the machine is shared and a grant or an
// access commits a block or two.
const wait = 90 * time.Second

// served is one running app and what its server saw.
type served struct {
	app *app.App
	url string // base, without the token

	mu      sync.Mutex
	refused []string // "METHOD PATH STATUS" of requests answered 401 or 403
	leaked  []string // paths whose answer carried the identity's secret
}

func (s *served) refusals() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.refused...)
}

// statusRecorder notes an answer's status, and whether it carried a secret: the identity's
// secret line, or a passphrase typed in the page.
type statusRecorder struct {
	http.ResponseWriter
	status  int
	secrets [][]byte
	leaked  bool
}

func (r *statusRecorder) WriteHeader(code int) { r.status = code; r.ResponseWriter.WriteHeader(code) }

func (r *statusRecorder) Write(p []byte) (int, error) {
	for _, s := range r.secrets {
		if len(s) > 0 && bytes.Contains(p, s) {
			r.leaked = true
		}
	}
	return r.ResponseWriter.Write(p)
}

// startApp serves the app of id on a port the OS picks, until the test ends.
func startApp(t *testing.T, nw *node.LocalNet, id *identity.Identity) *served {
	t.Helper()
	secret, err := id.MarshalText() // the secret identity line, as in the identity file
	if err != nil {
		t.Fatal(err)
	}
	return serveApp(t, newSession(t, nw, id), &app.Options{Identity: id}, func() [][]byte { return [][]byte{secret} })
}

func newSession(t *testing.T, nw *node.LocalNet, id *identity.Identity) *client.Session {
	t.Helper()
	s, err := client.New(mustDesc(t, nw), id, &client.Options{TempDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// serveApp serves the app of session s (nil: the welcome state, opts saying how to start
// one), noting the answers refused and those that carried one of secrets().
func serveApp(t *testing.T, s *client.Session, opts *app.Options, secrets func() [][]byte) *served {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	book, err := contacts.Open(filepath.Join(t.TempDir(), "contacts"))
	if err != nil {
		t.Fatal(err)
	}
	opts.TempDir, opts.Contacts = t.TempDir(), book
	a, err := app.New(s, l.Addr(), opts)
	if err != nil {
		t.Fatal(err)
	}
	sv := &served{app: a, url: "http://" + l.Addr().String()}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK, secrets: secrets()}
		a.ServeHTTP(rec, r)
		if rec.leaked {
			sv.mu.Lock()
			sv.leaked = append(sv.leaked, r.URL.Path)
			sv.mu.Unlock()
		}
		if rec.status == http.StatusUnauthorized || rec.status == http.StatusForbidden {
			sv.mu.Lock()
			sv.refused = append(sv.refused, fmt.Sprintf("%s %s %d", r.Method, r.URL.Path, rec.status))
			sv.mu.Unlock()
		}
	}), ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(l)
	t.Cleanup(func() {
		srv.Close()
		a.Close()
	})
	return sv
}

// checkNoLeaks fails the test if an answer of sv carried a secret.
func checkNoLeaks(t *testing.T, sv *served) {
	t.Helper()
	sv.mu.Lock()
	defer sv.mu.Unlock()
	if len(sv.leaked) > 0 {
		t.Errorf("answers carried a secret (identity or passphrase): %q", sv.leaked)
	}
}

// TestBrowser is the patient and the doctor, each with their own app and browser context,
// on a real 4-node network: upload by drop, share, the doctor downloads identical bytes, the
// history shows the read and its purpose, revoke, the doctor is refused in words. With
// RREC_SCREENSHOTS=DIR it also writes a screenshot of every page at desktop and phone width.
func TestBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a 4-node network and a browser")
	}
	chromium, err := exec.LookPath("chromium")
	if err != nil {
		t.Skip("chromium is not installed ('make test' installs it: apt-get install chromium)")
	}
	shots := os.Getenv("RREC_SCREENSHOTS")

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	nw, err := node.StartLocalNet(ctx, t.TempDir(), node.LocalNetOptions{Validators: 4, ChainID: "rr-app",
		Admission: &node.LocalAdmission, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = nw.Stop() })
	patientID, _ := identity.Generate()
	doctorID, _ := identity.Generate()
	patientApp := startApp(t, nw, patientID)
	doctorApp := startApp(t, nw, doctorID)

	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(chromium), chromedp.WindowSize(1280, 900))
	if os.Geteuid() == 0 {
		opts = append(opts, chromedp.NoSandbox) // Chromium's sandbox refuses to run as root
	}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	defer cancelAlloc()
	browserCtx, cancelBrowser := chromedp.NewContext(allocCtx)
	defer cancelBrowser()
	if err := chromedp.Do(browserCtx); err != nil { // starts the browser
		t.Fatal(err)
	}
	patient, cancelPatient := newBrowserContext(t, browserCtx)
	defer cancelPatient()
	doctor, cancelDoctor := newBrowserContext(t, browserCtx)
	defer cancelDoctor()

	// The patient opens the link 'rrec app' printed: the token becomes a cookie and leaves
	// the address bar.
	start := time.Now()
	do(t, patient, chromedp.Navigate(patientApp.app.URL()))
	waitReady(t, patient)
	t.Logf("page load on loopback, link to records listed: %v", time.Since(start).Round(time.Millisecond))
	if loc := run(t, patient, chromedp.Location()); strings.Contains(loc, "token") {
		t.Errorf("the token stayed in the address bar: %s", loc)
	}
	if ms := run(t, patient, chromedp.Evaluate[float64](`performance.getEntriesByType("navigation")[0].loadEventEnd`)); ms > 0 {
		t.Logf("navigation timing: load event at %.0f ms", ms)
	}

	// Upload a 5 MB file by dropping it on the page.
	dir := t.TempDir()
	scan := filepath.Join(dir, "knee-mri.dcm")
	want := make([]byte, 5<<20)
	rand.Read(want)
	if err := os.WriteFile(scan, want, 0o600); err != nil {
		t.Fatal(err)
	}
	start = time.Now()
	dropFile(t, patient, "#drop", scan)
	waitFor(t, patient, `[...document.querySelectorAll("#records tr .name")].some(e => e.textContent === "knee-mri.dcm")`)
	t.Logf("5 MB file: drop to listed in %v", time.Since(start).Round(time.Millisecond))
	if got := text(t, patient, "#upload-phase"); !strings.Contains(got, "stored") {
		t.Errorf("after the upload the page says %q", got)
	}
	rec := run(t, patient, chromedp.Evaluate[string](`[...document.querySelectorAll("#records tr[data-record]")].find(tr => tr.querySelector(".name").textContent === "knee-mri.dcm").dataset.record`))

	// A 20 MB file by drop, following what the page says while it works; then a small one
	// through the file picker.
	big := filepath.Join(dir, "ct-abdomen.dcm")
	writeRandom(t, big, 20<<20)
	do(t, patient, chromedp.Evaluate[chromedp.Void](`window.seen = new Set();
new MutationObserver(() => seen.add(document.getElementById("upload-phase").textContent.replace(/[0-9]+%$/, "").trim()))
  .observe(document.getElementById("upload-phase"), {childList: true, characterData: true, subtree: true})`))
	start = time.Now()
	dropFile(t, patient, "#drop", big)
	waitFor(t, patient, `[...document.querySelectorAll("#records tr .name")].some(e => e.textContent === "ct-abdomen.dcm")`)
	t.Logf("20 MB file: drop to listed in %v; the page said: %q", time.Since(start).Round(time.Millisecond),
		run(t, patient, chromedp.Evaluate[[]string](`[...seen]`)))
	if v := run(t, patient, chromedp.Evaluate[float64](`document.getElementById("upload-progress").value`)); v != 100 {
		t.Errorf("after the upload the progress bar stands at %v", v)
	}
	small := filepath.Join(dir, "allergies.txt")
	if err := os.WriteFile(small, []byte("penicillin\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	do(t, patient, chromedp.SetUploadFiles(chromedp.ID("file"), []string{small}))
	waitFor(t, patient, `[...document.querySelectorAll("#records tr .name")].some(e => e.textContent === "allergies.txt")`)

	// The doctor opens their app and reads their identity off the page.
	do(t, doctor, chromedp.Navigate(doctorApp.app.URL()+"#/shared"))
	waitReady(t, doctor)
	doctorIdentity := text(t, doctor, "#my-identity")
	if doctorIdentity != doctorID.Public().String() {
		t.Fatalf("the doctor's page shows identity %q, want %q", doctorIdentity, doctorID.Public())
	}

	// The patient adds the doctor to their contacts, and each sees the other by name.
	addContact(t, patient, patientApp, "Dr Ada Smith", doctorIdentity)

	// The patient shares the record with the doctor, picked from the contacts, for 30 days
	// (the default), for treatment.
	do(t, patient, chromedp.Navigate(patientApp.url+"/#/records"))
	waitReady(t, patient)
	do(t, patient, chromedp.Click(chromedp.CSS(`tr[data-record="`+rec+`"] a[href^="#/share/"]`)))
	waitReady(t, patient)
	do(t, patient, chromedp.Evaluate[chromedp.Void](`const pick = document.getElementById("to-contact");
pick.value = [...pick.options].find(o => o.textContent === "Dr Ada Smith").value;
pick.dispatchEvent(new Event("change", {bubbles: true}))`))
	statement := text(t, patient, "#statement")
	for _, w := range []string{"Dr Ada Smith will be able to open", "knee-mri.dcm", "Treatment", "withdraw", "copy they already saved"} {
		if !strings.Contains(statement, w) {
			t.Errorf("the share page's statement %q does not mention %q", statement, w)
		}
	}
	if strings.Contains(statement, "null") || strings.Contains(statement, "undefined") {
		t.Errorf("the share page's statement shows a missing value: %q", statement)
	}
	if got := run(t, patient, chromedp.Value(chromedp.ID("to"))); got != doctorIdentity {
		t.Errorf("picking the contact filled in %q", got)
	}
	shot(t, patient, shots, "share")
	do(t, patient, chromedp.Click(chromedp.ID("share-submit")))
	waitFor(t, patient, `document.querySelector("#share-result .ok") !== null || document.querySelector("#share-result .error") !== null`)
	if got := text(t, patient, "#share-result"); !strings.HasPrefix(got, "Shared.") {
		t.Fatalf("sharing: %q", got)
	}

	// The doctor sees the record and downloads it: identical bytes.
	downloads := t.TempDir()
	allowDownloads(t, doctor, downloads)
	do(t, doctor, chromedp.Reload()) // the doctor's page is at #/shared already
	waitReady(t, doctor)
	waitFor(t, doctor, `document.querySelector('li.card[data-status="live"] button.open') !== null`)
	// Before the doctor names the patient, the card shows the patient's public identity (the
	// share states it), not a bare key; afterwards, the name.
	card := `li.card[data-record="` + rec + `"]`
	if got := run(t, doctor, chromedp.Evaluate[string](`document.querySelector('`+card+` .ident').title`)); got != patientID.Public().String() {
		t.Errorf("the doctor's card names the owner %q, want the patient's identity", got)
	}
	addContact(t, doctor, doctorApp, "Sam Patient", patientID.Public().String())
	do(t, doctor, chromedp.Navigate(doctorApp.url+"/#/shared"))
	waitReady(t, doctor)
	waitFor(t, doctor, `document.querySelector('li.card[data-status="live"] button.open') !== null`)
	if got := text(t, doctor, card); !strings.Contains(got, "Shared by Sam Patient") {
		t.Errorf("the doctor's card says %q, want it shared by the patient's contact name", got)
	}
	shot(t, doctor, shots, "shared-with-me")
	start = time.Now()
	do(t, doctor, chromedp.Click(chromedp.CSS(`li.card[data-record="`+rec+`"] button.open`)))
	got := waitFile(t, filepath.Join(downloads, "knee-mri.dcm"), int64(len(want)))
	t.Logf("5 MB shared record: click to saved in %v", time.Since(start).Round(time.Millisecond))
	if !bytes.Equal(got, want) {
		t.Fatal("the doctor downloaded other bytes than the patient uploaded")
	}

	// The patient's history shows the read, by the doctor, for treatment.
	do(t, patient, chromedp.Navigate(patientApp.url+"/#/history/"+rec))
	waitReady(t, patient)
	read := text(t, patient, `#timeline li[data-kind="request"]`)
	if !strings.Contains(read, "Read") || !strings.Contains(read, "Treatment") || !strings.Contains(read, "Dr Ada Smith") {
		t.Errorf("the history's read says %q; want the doctor and the purpose", read)
	}

	// The patient withdraws the share, confirming in the dialog.
	do(t, patient, chromedp.Navigate(patientApp.url+"/#/shares"))
	waitReady(t, patient)
	if got := text(t, patient, `tr[data-grant] td[data-label="Shared with"]`); got != "Dr Ada Smith" {
		t.Errorf("the shares page says the record is shared with %q", got)
	}
	do(t, patient, chromedp.Click(chromedp.CSS(`tr[data-grant] button.danger`)))
	waitFor(t, patient, `document.getElementById("confirm").open`)
	if got := text(t, patient, "#confirm-text"); !strings.Contains(got, "refuse") {
		t.Errorf("the confirmation says %q", got)
	}
	do(t, patient, chromedp.Click(chromedp.ID("confirm-ok")))
	waitFor(t, patient, `document.getElementById("notice").textContent.startsWith("Withdrawn.")`)
	waitFor(t, patient, `document.querySelector('tr[data-grant] .badge-revoked') !== null`)

	// The doctor, on the page as it was, tries again and is told why not, in words.
	do(t, doctor, chromedp.Click(chromedp.CSS(`li.card[data-record="`+rec+`"] button.open`)))
	waitFor(t, doctor, `document.querySelector('li.card .card-result .error') !== null`)
	if got := text(t, doctor, `li.card .card-result .error`); got != "The owner has withdrawn your access to this record, so it can no longer be opened." {
		t.Errorf("the doctor's refusal reads %q", got)
	}
	do(t, doctor, chromedp.Reload())
	waitReady(t, doctor)
	waitFor(t, doctor, `document.querySelector('li.card[data-status="revoked"] .refusal') !== null`)

	// The patient shares the record again, from tomorrow: the statement says when it
	// starts, and the doctor is refused until then, in words.
	shareLater(t, patient, doctor, patientApp, doctorApp, rec, shots)

	// A request without the token is refused: a fresh browser context opens the app
	// without it, and a script without it gets 401.
	stranger, cancelStranger := newBrowserContext(t, browserCtx)
	defer cancelStranger()
	do(t, stranger, chromedp.Navigate(patientApp.url+"/#/records"))
	if got := text(t, stranger, "h1"); !strings.Contains(got, "Open the link") {
		t.Errorf("without the token the page says %q", got)
	}
	resp, err := http.Get(patientApp.url + "/api/records")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("GET /api/records without the token: %s", resp.Status)
	}

	// A page of another origin (another port of 127.0.0.1: the same site, so the patient's
	// browser sends the SameSite=Strict cookie along) tries to erase the record.
	evil := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, `<!doctype html><title>evil</title><script>
fetch(%q, {method: "POST", credentials: "include", mode: "no-cors", body: '{"confirm":true}'}).finally(() => document.title = "sent");
</script>`, patientApp.url+"/api/records/"+rec+"/erase")
	})}
	el, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go evil.Serve(el)
	defer evil.Close()
	do(t, patient, chromedp.Navigate("http://"+el.Addr().String()+"/"))
	waitFor(t, patient, `document.title === "sent"`)
	if !containsRefusal(patientApp.refusals(), "POST /api/records/"+rec+"/erase 403") {
		t.Errorf("the foreign page's request was not refused: refusals %q", patientApp.refusals())
	}
	s, _ := client.New(mustDesc(t, nw), patientID, nil)
	if r, err := s.Record(ctx, rec2id(t, rec)); err != nil || r.Erased != nil {
		t.Fatalf("after the foreign page: record %+v, %v", r, err)
	}

	if shots != "" {
		screenshots(t, patient, doctor, patientApp, doctorApp, rec, shots)
	}

	// No answer of either app carried its identity's secret.
	checkNoLeaks(t, patientApp)
	checkNoLeaks(t, doctorApp)

	// The patient erases the small record: the button waits for the confirmation box.
	do(t, patient, chromedp.EmulateViewport(1280, 860), chromedp.Navigate(patientApp.url+"/#/records"))
	waitReady(t, patient)
	do(t, patient, chromedp.Evaluate[chromedp.Void](`[...document.querySelectorAll("#records tr[data-record]")]
  .find(tr => tr.querySelector(".name").textContent === "allergies.txt").querySelector("a.danger-link").click()`))
	waitReady(t, patient)
	if got := text(t, patient, "h1"); got != "Erase “allergies.txt”" {
		t.Fatalf("the erase page is titled %q", got)
	}
	if !run(t, patient, chromedp.Evaluate[bool](`document.getElementById("erase-submit").disabled`)) {
		t.Error("the erase button works before the box is ticked")
	}
	do(t, patient, chromedp.Click(chromedp.ID("erase-confirm")), chromedp.Click(chromedp.ID("erase-submit")))
	waitFor(t, patient, `document.querySelector("#erase-result .ok") !== null`)
	do(t, patient, chromedp.Navigate(patientApp.url+"/#/records"))
	waitReady(t, patient)
	waitFor(t, patient, `document.querySelector("tr.erased") !== null`)

	// A newcomer without an identity creates one in the page, saves its backup, and stores
	// a record with it.
	newcomer(t, browserCtx, nw, dir, shots)
}

// addContact adds a contact through the Contacts page.
func addContact(t *testing.T, ctx context.Context, sv *served, name, id string) {
	t.Helper()
	do(t, ctx, chromedp.Navigate(sv.url+"/#/contacts"))
	waitReady(t, ctx)
	do(t, ctx,
		chromedp.SendKeys(chromedp.ID("contact-name"), name),
		chromedp.SetValue(chromedp.ID("contact-identity"), id),
		chromedp.Click(chromedp.ID("contact-submit")))
	waitFor(t, ctx, `[...document.querySelectorAll("#contacts tr[data-contact]")].some(tr => tr.dataset.contact === `+strconvQuote(name)+`)`)
}

func strconvQuote(s string) string { return fmt.Sprintf("%q", s) }

func writeRandom(t *testing.T, path string, n int) {
	t.Helper()
	b := make([]byte, n)
	rand.Read(b)
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

func containsRefusal(list []string, want string) bool {
	for _, s := range list {
		if s == want {
			return true
		}
	}
	return false
}

// screenshots writes every page at desktop and phone width into dir.
func screenshots(t *testing.T, patient, doctor context.Context, p, d *served, rec, dir string) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	pages := []struct {
		who  context.Context
		base string
		name string
		hash string
	}{
		{patient, p.url, "records", "#/records"},
		{patient, p.url, "share", "#/share/" + rec},
		{patient, p.url, "shares", "#/shares"},
		{patient, p.url, "history", "#/history/" + rec},
		{patient, p.url, "erase", "#/erase/" + rec},
		{patient, p.url, "network", "#/network"},
		{patient, p.url, "contacts", "#/contacts"},
		{doctor, d.url, "shared-with-me-revoked", "#/shared"},
	}
	for _, w := range []struct {
		name          string
		width, height int64
	}{{"desktop", 1280, 860}, {"phone", 390, 844}} {
		for _, pg := range pages {
			do(t, pg.who, chromedp.EmulateViewport(w.width, w.height), chromedp.Navigate(pg.base+"/"+pg.hash), chromedp.Reload())
			waitReady(t, pg.who)
			png := run(t, pg.who, chromedp.FullScreenshot(100))
			if err := os.WriteFile(filepath.Join(dir, pg.name+"-"+w.name+".png"), png, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// shot writes one screenshot now, at desktop width, when dir is set.
func shot(t *testing.T, ctx context.Context, dir, name string) {
	if dir == "" {
		return
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	png := run(t, ctx, chromedp.FullScreenshot(100))
	if err := os.WriteFile(filepath.Join(dir, name+"-live-desktop.png"), png, 0o644); err != nil {
		t.Fatal(err)
	}
}

// newBrowserContext opens a tab in a browser context of its own (its own cookies and
// downloads, as another person's browser). The tab lives as long as the context the first
// action runs in, so that first action runs here, without the deadline each step gets.
func newBrowserContext(t *testing.T, browserCtx context.Context) (context.Context, context.CancelFunc) {
	t.Helper()
	ctx, cancel := chromedp.NewContext(browserCtx, chromedp.WithNewBrowserContext())
	if err := chromedp.Do(ctx); err != nil {
		cancel()
		t.Fatal(err)
	}
	return ctx, cancel
}

func do(t *testing.T, ctx context.Context, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	c, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	if err := chromedp.Do(c, steps...); err != nil {
		t.Fatal(err)
	}
}

func run[T any](t *testing.T, ctx context.Context, a chromedp.Action[T]) T {
	t.Helper()
	c, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	v, err := chromedp.Run(c, a)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// waitFor waits until the JavaScript condition holds on the page.
func waitFor(t *testing.T, ctx context.Context, cond string) {
	t.Helper()
	c, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	if _, err := chromedp.Run(c, chromedp.Poll[bool](cond, chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(wait))); err != nil {
		c2, cancel2 := context.WithTimeout(ctx, 10*time.Second)
		defer cancel2()
		body, err2 := chromedp.Run(c2, chromedp.Evaluate[string](`document.location.href + "\n" + document.body.innerText`))
		t.Fatalf("waiting for %s: %v\npage (%v):\n%s", cond, err, err2, body)
	}
}

// waitReady waits until the page of the address bar's route finished loading its data (not
// the page before a click changed the route).
func waitReady(t *testing.T, ctx context.Context) {
	t.Helper()
	waitFor(t, ctx, `(m => m !== null && m.dataset.ready === "true" && m.dataset.route === (location.hash || "#/records"))(document.getElementById("main"))`)
}

func text(t *testing.T, ctx context.Context, css string) string {
	t.Helper()
	return strings.TrimSpace(run(t, ctx, chromedp.Text(chromedp.CSS(css))))
}

// dropFile drops the file at path on the element, as a user dragging it from their files.
func dropFile(t *testing.T, ctx context.Context, css, path string) {
	t.Helper()
	box := run(t, ctx, chromedp.Dimensions(chromedp.CSS(css)))
	x := (box.Content[0] + box.Content[2]) / 2
	y := (box.Content[1] + box.Content[5]) / 2
	data := &input.DragData{Items: []*input.DragDataItem{}, Files: []string{path}, DragOperationsMask: 1}
	for _, typ := range []input.DispatchDragEventType{input.DispatchDragEventTypeDragEnter, input.DispatchDragEventTypeDragOver, input.DispatchDragEventTypeDrop} {
		if _, err := chromedp.Call(ctx, input.DispatchDragEvent, input.DispatchDragEventParams{Type: typ, X: x, Y: y, Data: data}); err != nil {
			t.Fatalf("drag event %s: %v", typ, err)
		}
	}
}

// allowDownloads makes the browser context of ctx save downloads into dir.
func allowDownloads(t *testing.T, ctx context.Context, dir string) {
	t.Helper()
	if _, err := chromedp.CallBrowser(ctx, browser.SetDownloadBehavior, browser.SetDownloadBehaviorParams{
		Behavior: browser.SetDownloadBehaviorBehaviorAllow, DownloadPath: dir,
		BrowserContextID: chromedp.FromContext(ctx).BrowserContextID}); err != nil {
		t.Fatal(err)
	}
}

// waitFile waits until path holds n bytes (the browser renames a finished download into
// place) and returns them.
func waitFile(t *testing.T, path string, n int64) []byte {
	t.Helper()
	deadline := time.Now().Add(wait)
	for tick := 10 * time.Millisecond; ; tick = min(2*tick, 500*time.Millisecond) {
		if fi, err := os.Stat(path); err == nil && fi.Size() == n {
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			return b
		} else if err != nil && !errors.Is(err, os.ErrNotExist) {
			t.Fatal(err)
		}
		if time.Now().After(deadline) {
			entries, _ := os.ReadDir(filepath.Dir(path))
			t.Fatalf("no download %s of %d bytes after %v (directory: %v)", path, n, wait, entries)
		}
		time.Sleep(tick)
	}
}

func mustDesc(t *testing.T, nw *node.LocalNet) *protocol.Network {
	t.Helper()
	d, err := nw.Description()
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func rec2id(t *testing.T, s string) protocol.ID {
	t.Helper()
	var id protocol.ID
	if err := id.UnmarshalText([]byte(s)); err != nil {
		t.Fatal(err)
	}
	return id
}
