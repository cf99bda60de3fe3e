package app

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io"
	"mime"
	"net/http"
	"os"
	"strconv"

	"github.com/resilientrecords/resilientrecords/client"
)

// sharedView is one grant made to this identity, with what the recipient can do with it.
type sharedView struct {
	Grant  grantView   `json:"grant"`
	Record *recordView `json:"record,omitempty"`
	// Why the record cannot be opened, in words ("" while the grant is live).
	Refusal string `json:"refusal,omitempty"`
}

func (a *App) shared(w http.ResponseWriter, r *http.Request) {
	sh, err := a.s.Shared(r.Context())
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	out := make([]sharedView, 0, len(sh))
	for i := len(sh) - 1; i >= 0; i-- { // newest first
		x := sh[i]
		v := sharedView{Grant: a.grantView(x.Grant, 0, x.Record)}
		v.Grant.Status = statusWord(x.Err) // judged by the SDK at the ledger's block time
		if x.Record != nil {
			rv := a.recordView(r.Context(), x.Record)
			rv.Owner = v.Grant.Owner // the grant states the owner's whole identity; the record only its key
			v.Record = &rv
		}
		if x.Err != nil {
			v.Refusal = refusal(x.Err)
		}
		out = append(out, v)
	}
	writeJSON(w, http.StatusOK, out)
}

// refusal is the sentence the app answers err with.
func refusal(err error) string {
	for _, p := range plain {
		if errors.Is(err, p.err) {
			return p.message
		}
	}
	return "This record cannot be opened."
}

// open fetches and opens a record (the owner's own, or one shared with this identity, which
// records an access request with its purpose in the record's history), into a private
// temporary file the page then saves with /api/downloads/{job}.
func (a *App) open(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(w, r, "record")
	if !ok {
		return
	}
	var req struct {
		Purpose string `json:"purpose"`
		Job     string `json:"job"`
	}
	if !readJSON(w, r, &req) {
		return
	}
	if req.Job == "" {
		var b [12]byte
		rand.Read(b[:])
		req.Job = hex.EncodeToString(b[:])
	}
	if !a.jobs.start(req.Job) {
		badRequest(w, "The transfer could not be followed: reload the page and try again.")
		return
	}
	f, err := os.CreateTemp(a.jobs.dir, "open-*")
	if err != nil {
		a.jobs.fail(req.Job)
		a.writeError(w, r, err)
		return
	}
	meta, err := a.s.Get(r.Context(), id, f, client.GetOptions{Purpose: req.Purpose}, client.WithProgress(a.jobs.report(req.Job)))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(f.Name())
		a.jobs.fail(req.Job)
		a.writeError(w, r, err)
		return
	}
	a.names.set(id, *meta)
	name := meta.Name
	if name == "" {
		name = "record-" + id.String()[:12]
	}
	a.jobs.finish(req.Job, f.Name(), name, meta.MediaType)
	writeJSON(w, http.StatusOK, map[string]any{
		"download": "/api/downloads/" + req.Job,
		"name":     name,
		"type":     meta.MediaType,
		"size":     meta.Size,
	})
}

// download serves an opened record once, as an attachment, and removes it.
func (a *App) download(w http.ResponseWriter, r *http.Request) {
	jb, ok := a.jobs.take(r.PathValue("job"))
	if !ok {
		writeProblem(w, http.StatusNotFound, "not_found", "This download is no longer here: open the record again.")
		return
	}
	defer os.Remove(jb.file)
	f, err := os.Open(jb.file)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	typ := jb.typ
	if _, _, err := mime.ParseMediaType(typ); err != nil || typ == "" {
		typ = "application/octet-stream"
	}
	w.Header().Set("Content-Type", typ)
	w.Header().Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": jb.name}))
	w.Header().Set("Content-Length", strconv.FormatInt(fi.Size(), 10))
	io.Copy(w, f)
}
