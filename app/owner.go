package app

import (
	"context"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"path"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/resilientrecords/resilientrecords/client"
	"github.com/resilientrecords/resilientrecords/envelope"
	"github.com/resilientrecords/resilientrecords/protocol"
)

// recordView is one record as the pages show it.
type recordView struct {
	ID         protocol.ID `json:"id"`
	Name       string      `json:"name,omitempty"` // "" when unknown
	Type       string      `json:"type,omitempty"`
	Size       int64       `json:"size"`        // the plaintext's, when known; else the sealed size
	SealedSize uint64      `json:"sealed_size"` // what the network stores
	Time       time.Time   `json:"time"`
	Holders    int         `json:"holders"`
	Replicas   int         `json:"replicas"`
	Erased     *time.Time  `json:"erased,omitempty"`
	Owner      string      `json:"owner"` // "you", a contact's name, the owner's rrec1… identity, else its key in hex
}

func (a *App) recordView(ctx context.Context, r *protocol.Record) recordView {
	v := recordView{ID: r.ID, Size: int64(r.Size), SealedSize: r.Size, Time: nanoTime(r.Time),
		Holders: len(r.Holders), Replicas: r.Replicas, Owner: a.who(r.Owner, nil)}
	if r.Erased != nil {
		t := nanoTime(r.Erased.Time)
		v.Erased = &t
	}
	if m, ok := a.metadata(ctx, r); ok {
		v.Name, v.Type, v.Size = m.Name, m.MediaType, m.Size
	}
	return v
}

func nanoTime(ns int64) time.Time { return time.Unix(0, ns).UTC() }

func (a *App) records(w http.ResponseWriter, r *http.Request) {
	recs, err := a.s.Records(r.Context())
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	out := make([]recordView, 0, len(recs))
	for i := len(recs) - 1; i >= 0; i-- { // newest first
		out = append(out, a.recordView(r.Context(), recs[i]))
	}
	writeJSON(w, http.StatusOK, out)
}

// upload seals and stores the request body as a new record. The body streams straight into
// the sealer: nothing holds the whole file in memory, here or in the page (which sends the
// browser's File object, read from disk as it goes).
func (a *App) upload(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	name := path.Base(strings.ReplaceAll(q.Get("name"), "\\", "/"))
	if name == "." || name == "/" || len(name) > envelope.MaxNameLen || !utf8.ValidString(name) {
		badRequest(w, "The file needs a name of at most 1024 characters.")
		return
	}
	typ := q.Get("type")
	if !mediaTypeOK(typ) {
		if typ = mime.TypeByExtension(path.Ext(name)); !mediaTypeOK(typ) {
			typ = ""
		}
	}
	modified := time.Now()
	if ms, err := intParam(r, "modified", 0); err == nil && ms > 0 {
		modified = time.UnixMilli(ms)
	}
	if r.ContentLength < 0 {
		writeProblem(w, http.StatusLengthRequired, "bad_request", "The browser did not say how large the file is.")
		return
	}
	if r.ContentLength > a.max {
		writeProblem(w, http.StatusRequestEntityTooLarge, "too_large", "This file is larger than the app accepts ("+sizeText(a.max)+").")
		return
	}
	job := q.Get("job")
	if job != "" {
		if !a.jobs.start(job) {
			badRequest(w, "The transfer could not be followed: reload the page and try again.")
			return
		}
	}
	body := http.MaxBytesReader(w, r.Body, r.ContentLength)
	meta := envelope.Metadata{Name: name, MediaType: typ, Created: modified}
	var opts []client.CallOption
	if job != "" {
		opts = append(opts, client.WithProgress(a.jobs.report(job)))
	}
	id, err := a.s.Put(r.Context(), body, r.ContentLength, meta, opts...)
	if err != nil {
		if job != "" {
			a.jobs.fail(job)
		}
		a.writeError(w, r, err)
		return
	}
	if job != "" {
		a.jobs.finish(job, "", "", "")
	}
	meta.Size = r.ContentLength
	a.names.set(id, meta)
	rec, err := a.s.Record(r.Context(), id)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, a.recordView(r.Context(), rec))
}

// mediaTypeOK reports whether the sealed metadata can carry typ (printable ASCII, bounded).
func mediaTypeOK(typ string) bool {
	return typ != "" && len(typ) <= envelope.MaxMediaTypeLen &&
		!strings.ContainsFunc(typ, func(c rune) bool { return c < 0x20 || c > 0x7e })
}

// grantView is one share of a record as the pages show it.
type grantView struct {
	ID         protocol.ID `json:"id"`
	Record     protocol.ID `json:"record"`
	RecordName string      `json:"record_name,omitempty"`
	To         string      `json:"to"`                // the recipient's public identity, rrec1…
	ToName     string      `json:"to_name,omitempty"` // the recipient's name in the contacts book
	Owner      string      `json:"owner"`             // "you", a contact's name, or the owner's key
	By         string      `json:"by,omitempty"`      // the caregiver who made the grant for the owner
	Purpose    string      `json:"purpose,omitempty"`
	Granted    time.Time   `json:"granted"`
	From       *time.Time  `json:"from,omitempty"`
	Until      *time.Time  `json:"until,omitempty"` // nil: until revoked
	Status     string      `json:"status"`          // live, not_yet_valid, expired, revoked, erased
	Nodes      int         `json:"nodes"`
	Destroyed  int         `json:"destroyed"` // grant nodes that reported destroying their fragment
}

func (a *App) grantView(g *protocol.GrantState, now int64, rec *protocol.Record) grantView {
	v := grantView{ID: g.ID, Record: g.Record, To: client.RecipientString(g), Owner: a.who(g.Owner, map[protocol.PubKey]string{g.Owner: client.OwnerString(g)}), Purpose: g.Purpose,
		Granted: nanoTime(g.Time), Status: "live", Nodes: len(g.Nodes), Destroyed: len(g.Destroyed)}
	v.ToName, _ = a.book.NameOf(g.RecipientSig)
	if g.By != nil {
		v.By = a.who(*g.By, nil)
	}
	if g.NotBefore != 0 {
		t := nanoTime(g.NotBefore)
		v.From = &t
	}
	if g.NotAfter != 0 {
		t := nanoTime(g.NotAfter)
		v.Until = &t
	}
	if m, ok := a.names.get(g.Record); ok {
		v.RecordName = m.Name
	}
	var err error
	if rec != nil && rec.Erased != nil {
		err = client.ErrErased
	} else {
		err = client.Classify(g.LiveAt(now))
	}
	v.Status = statusWord(err)
	return v
}

// statusWord names why a grant cannot be used (nil: it can).
func statusWord(err error) string {
	for _, p := range plain[:4] {
		if err != nil && errors.Is(err, p.err) {
			return p.code
		}
	}
	if err != nil {
		return "unusable"
	}
	return "live"
}

func (a *App) recordGrants(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(w, r, "record")
	if !ok {
		return
	}
	rec, err := a.s.Record(r.Context(), id)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	gs, err := a.s.Grants(r.Context(), id)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	st, err := a.s.Status(r.Context())
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	out := make([]grantView, len(gs))
	for i, g := range gs {
		out[i] = a.grantView(g, st.Time, rec)
	}
	writeJSON(w, http.StatusOK, map[string]any{"record": a.recordView(r.Context(), rec), "grants": out})
}

// shares lists every grant of every record of this identity, newest first.
func (a *App) shares(w http.ResponseWriter, r *http.Request) {
	recs, err := a.s.Records(r.Context())
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	st, err := a.s.Status(r.Context())
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	out := []grantView{}
	for _, rec := range recs {
		gs, err := a.s.Grants(r.Context(), rec.ID)
		if err != nil {
			a.writeError(w, r, err)
			return
		}
		a.metadata(r.Context(), rec)
		for _, g := range gs {
			out = append(out, a.grantView(g, st.Time, rec))
		}
	}
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	writeJSON(w, http.StatusOK, out)
}

// maxGrantHours bounds a share's duration (ten years) so that a typo cannot overflow.
const maxGrantHours = 10 * 366 * 24

func (a *App) grant(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(w, r, "record")
	if !ok {
		return
	}
	var req struct {
		To      string     `json:"to"`
		Hours   int64      `json:"hours"` // 0: until revoked; else this long from the start
		Purpose string     `json:"purpose"`
		Starts  *time.Time `json:"starts"` // nil or past: now
	}
	if !readJSON(w, r, &req) {
		return
	}
	pub, err := a.book.Resolve(req.To)
	if err != nil {
		badRequest(w, "That is neither a complete identity nor a name in your contacts: an identity starts with rrec1 and must be copied whole from the person you share with.")
		return
	}
	if req.Hours < 0 || req.Hours > maxGrantHours {
		badRequest(w, "Choose how long the share lasts: at most ten years.")
		return
	}
	if len(req.Purpose) > protocol.MaxPurpose || !utf8.ValidString(req.Purpose) {
		badRequest(w, "The purpose is too long.")
		return
	}
	if pub.Signing.Equal(a.s.Identity().Signing) {
		badRequest(w, "That is your own identity: you can always open your own records.")
		return
	}
	opts := client.GrantOptions{Duration: time.Duration(req.Hours) * time.Hour, Purpose: req.Purpose}
	if req.Starts != nil && req.Starts.After(time.Now()) {
		if req.Starts.After(time.Now().AddDate(10, 0, 0)) {
			badRequest(w, "Choose a start within the next ten years.")
			return
		}
		// The duration counts from the start: "a week from the 1st of December".
		opts.NotBefore = *req.Starts
		if req.Hours > 0 {
			opts.Duration, opts.NotAfter = 0, req.Starts.Add(time.Duration(req.Hours)*time.Hour)
		}
	}
	res, err := a.s.Grant(r.Context(), id, pub, opts)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, map[string]any{"grant": res.Grant, "accepted": res.Accepted, "nodes": len(res.Deposits)})
}

func (a *App) revoke(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(w, r, "grant")
	if !ok {
		return
	}
	res, err := a.s.Revoke(r.Context(), id)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	// The page says how many nodes confirmed destroying their key part; most do within a
	// second or two, so wait briefly for them rather than show "0 of 4".
	wctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
	defer cancel()
	if d, err := a.s.WaitDestroyed(wctx, id, 0); d != nil && err == nil {
		res.Destroyed = d.Destroyed
	}
	writeJSON(w, http.StatusOK, map[string]any{"height": res.Height, "nodes": res.Nodes, "destroyed": res.Destroyed})
}

func (a *App) erase(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(w, r, "record")
	if !ok {
		return
	}
	var req struct {
		Confirm bool `json:"confirm"`
	}
	if !readJSON(w, r, &req) {
		return
	}
	if !req.Confirm {
		badRequest(w, "Erasing cannot be undone: confirm it first.")
		return
	}
	if err := a.s.Erase(r.Context(), id); err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"erased": id})
}

func pathID(w http.ResponseWriter, r *http.Request, what string) (protocol.ID, bool) {
	var id protocol.ID
	if err := id.UnmarshalText([]byte(r.PathValue(what))); err != nil {
		badRequest(w, "That is not a "+what+" id.")
		return id, false
	}
	return id, true
}

func sizeText(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	}
	return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
}
