package blobs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/ipfs/go-cid"

	"github.com/resilientrecords/resilientrecords/protocol"
	"github.com/resilientrecords/resilientrecords/store"
)

// maxCIDText bounds a CID in a path (the ledger's own bound).
const maxCIDText = 128

// Handler serves the blob routes (SPEC.md §3):
//
//	POST /v1/blobs             signed upload, answers {"cid","size"}
//	GET  /v1/blobs/{cid}       the blob, or one byte range (Range: bytes=…)
//	GET  /v1/blobs/{cid}/car   the blob's DAG as a CARv1
func (s *Service) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc(protocol.RouteUpload, s.upload)
	mux.HandleFunc(protocol.RouteBlob, s.get)
	mux.HandleFunc(protocol.RouteBlobCAR, s.car)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// A blob can be erased, and an answer about one is true only now: no cache on the
		// way may keep either.
		w.Header().Set("Cache-Control", "no-store")
		mux.ServeHTTP(w, r)
	})
}

func (s *Service) upload(w http.ResponseWriter, r *http.Request) {
	leave, ok := s.enter(w, r)
	if !ok {
		return
	}
	defer leave()
	snap, err := s.cfg.Ledger.Committed()
	if err != nil {
		protocol.WriteError(w, protocol.Errorf(protocol.ErrUnavailable, "ledger state unavailable"))
		return
	}
	chainID := snap.ChainID
	auth, err := protocol.ParseUploadAuth(r.Header, chainID, s.self, s.cfg.Now())
	if err != nil {
		snap.Release()
		protocol.WriteError(w, err)
		return
	}
	var room int64
	var tier uint8
	rerr := notRetired(snap, auth.Signer)
	if rerr == nil {
		room, tier, rerr = accountRoom(snap, auth.Signer)
	}
	snap.Release()
	if rerr != nil {
		protocol.WriteError(w, rerr)
		return
	}
	if auth.Size > s.cfg.MaxUpload {
		protocol.WriteError(w, protocol.Errorf(protocol.ErrTooLarge, "upload of %d bytes exceeds this node's limit of %d", auth.Size, s.cfg.MaxUpload))
		return
	}
	if r.ContentLength >= 0 && r.ContentLength != auth.Size {
		protocol.WriteError(w, protocol.Errorf(protocol.ErrMalformed, "Content-Length %d differs from the signed size %d", r.ContentLength, auth.Size))
		return
	}
	s.mu.Lock()
	if _, used := s.seen[auth.Sig]; used {
		s.mu.Unlock()
		protocol.WriteError(w, protocol.Errorf(protocol.ErrBadSignature, "this upload signature was already used"))
		return
	}
	unreserve, perr := s.reserveLocked(auth.Signer, s.cfg.Sources.Key(r), auth.Size, room)
	if perr == nil && tier == protocol.TierSelf {
		if wait, err := s.paceSelfLocked(auth.Signer, auth.Size); err != nil {
			s.mu.Unlock()
			unreserve()
			w.Header().Set("Retry-After", strconv.Itoa(int(min(wait, time.Hour).Seconds())+1))
			protocol.WriteError(w, err)
			return
		}
	}
	if perr != nil {
		s.mu.Unlock()
		if errors.Is(perr, protocol.ErrQuota) {
			protocol.WriteError(w, perr) // waiting does not help: a record must take the uploads
		} else {
			refuse(w, perr)
		}
		return
	}
	s.seen[auth.Sig] = auth.Time
	s.mu.Unlock()
	defer unreserve()

	p := s.newProgress(w)
	f, n, err := s.spool(&progressReader{r: http.MaxBytesReader(w, r.Body, auth.Size+1), p: p})
	if err != nil {
		var mbe *http.MaxBytesError
		switch {
		case errors.As(err, &mbe):
			protocol.WriteError(w, protocol.Errorf(protocol.ErrMalformed, "body is longer than the signed size %d", auth.Size))
		case errors.Is(err, errSpoolDisk):
			s.log.Error("blobs: spooling an upload", "err", err)
			refuse(w, protocol.Errorf(protocol.ErrUnavailable, "could not take the upload now"))
		default:
			s.log.Debug("blobs: upload cut", "err", err)
			protocol.WriteError(w, protocol.Errorf(protocol.ErrMalformed, "upload did not complete"))
		}
		return
	}
	defer s.unspool(f)
	if n != auth.Size {
		protocol.WriteError(w, protocol.Errorf(protocol.ErrMalformed, "body has %d bytes, signed size is %d", n, auth.Size))
		return
	}
	s.putting.RLock()
	c, err := s.importUpload(r.Context(), f, auth)
	s.putting.RUnlock()
	p.answer()
	if err != nil {
		protocol.WriteError(w, err)
		return
	}
	s.m.uploaded.Add(float64(n))
	s.log.Debug("blobs: upload stored", "cid", c.String(), "size", n, "signer", auth.Signer.String())
	protocol.WriteJSON(w, http.StatusCreated, protocol.UploadAnswer{CID: c.String(), Size: n})
}

// importUpload imports a complete upload and marks it, unless a record already names it.
func (s *Service) importUpload(ctx context.Context, f io.Reader, auth *protocol.UploadAuth) (cid.Cid, error) {
	c, n, err := s.cfg.Store.Put(ctx, f)
	switch {
	case errors.Is(err, store.ErrTooLarge):
		return c, protocol.Errorf(protocol.ErrTooLarge, "blob exceeds the store's limit")
	case err != nil:
		s.log.Warn("blobs: upload import failed", "err", err)
		return c, protocol.Errorf(protocol.ErrUnavailable, "store unavailable")
	}
	if ids, _, err := s.recordsWith(c); err != nil || len(ids) == 0 {
		if err := s.addMarker(c, &marker{Signer: auth.Signer, Size: n, Time: s.cfg.Now().UnixNano()}); err != nil {
			s.log.Error("blobs: upload marker", "err", err)
			return c, protocol.Errorf(protocol.ErrInternal, "could not record the upload")
		}
	} else {
		for _, id := range ids { // a record already names this blob: make sure it is reported
			s.q.add(id)
		}
	}
	return c, nil
}

// target parses the path CID and refuses erased blobs.
func (s *Service) target(w http.ResponseWriter, r *http.Request) (cid.Cid, bool) {
	text := r.PathValue("cid")
	if len(text) > maxCIDText {
		protocol.WriteError(w, protocol.Errorf(protocol.ErrMalformed, "CID longer than %d bytes", maxCIDText))
		return cid.Undef, false
	}
	c, err := cid.Decode(text)
	if err != nil {
		protocol.WriteError(w, protocol.Errorf(protocol.ErrMalformed, "not a CID"))
		return cid.Undef, false
	}
	if _, erased, err := s.recordsWith(c); err == nil && erased {
		protocol.WriteError(w, protocol.Errorf(protocol.ErrRecordErased, "every record with this blob was erased"))
		return cid.Undef, false
	}
	return c, true
}

func (s *Service) storeError(w http.ResponseWriter, c cid.Cid, err error) {
	switch {
	case errors.Is(err, store.ErrNotFound):
		protocol.WriteError(w, protocol.Errorf(protocol.ErrNotFound, "this node does not hold %s", c))
	case errors.Is(err, store.ErrRange):
		protocol.WriteError(w, protocol.Errorf(protocol.ErrRange, "range outside the blob"))
	case errors.Is(err, store.ErrCorrupt):
		s.reportCorrupt(c)
		protocol.WriteError(w, protocol.Errorf(protocol.ErrCorrupt, "a block of %s failed verification on this node; repair is queued", c))
	case errors.Is(err, store.ErrUnsupported):
		protocol.WriteError(w, protocol.Errorf(protocol.ErrMalformed, "unsupported CID"))
	default:
		s.log.Warn("blobs: store read", "cid", c.String(), "err", err)
		protocol.WriteError(w, protocol.Errorf(protocol.ErrUnavailable, "store unavailable"))
	}
}

func (s *Service) get(w http.ResponseWriter, r *http.Request) {
	leave, ok := s.enter(w, r)
	if !ok {
		return
	}
	defer leave()
	c, ok := s.target(w, r)
	if !ok {
		return
	}
	size, err := s.cfg.Store.Size(r.Context(), c)
	if err != nil {
		s.storeError(w, c, err)
		return
	}
	off, length, partial, err := parseRange(r.Header.Get("Range"), size)
	if err != nil {
		w.Header().Set("Content-Range", fmt.Sprintf("bytes */%d", size))
		protocol.WriteError(w, protocol.Errorf(protocol.ErrRange, "%v", err))
		return
	}
	rc, err := s.cfg.Store.GetRange(r.Context(), c, off, length)
	if err != nil {
		s.storeError(w, c, err)
		return
	}
	defer rc.Close()
	// Read the first block before answering, so that a damaged first block
	// is a clean error the client can fall back on.
	first := make([]byte, min(length, 256<<10))
	k, err := io.ReadFull(rc, first)
	if err != nil && !(errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF)) || int64(k) < min(length, int64(len(first))) {
		if err == nil {
			err = store.ErrCorrupt
		}
		s.storeError(w, c, err)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/octet-stream")
	h.Set("Accept-Ranges", "bytes")
	h.Set("Content-Length", strconv.FormatInt(length, 10))
	h.Set("Etag", `"`+c.String()+`"`)
	status := http.StatusOK
	if partial {
		status = http.StatusPartialContent
		h.Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", off, off+length-1, size))
	}
	w.WriteHeader(status)
	pw := &progressWriter{w: w, p: s.newProgress(w)}
	defer func() { s.m.served.Add(float64(pw.n)) }()
	if _, err := pw.Write(first[:k]); err != nil {
		return
	}
	if _, err := io.Copy(pw, rc); err != nil {
		if errors.Is(err, store.ErrCorrupt) {
			s.reportCorrupt(c)
		}
		s.log.Warn("blobs: read aborted", "cid", c.String(), "sent", pw.n, "err", err)
		panic(http.ErrAbortHandler) // the client must see a broken response, not a short one
	}
}

func (s *Service) car(w http.ResponseWriter, r *http.Request) {
	leave, ok := s.enter(w, r)
	if !ok {
		return
	}
	defer leave()
	c, ok := s.target(w, r)
	if !ok {
		return
	}
	if has, err := s.cfg.Store.Has(r.Context(), c); err != nil || !has {
		if err == nil {
			err = store.ErrNotFound
		}
		s.storeError(w, c, err)
		return
	}
	w.Header().Set("Content-Type", "application/vnd.ipld.car; version=1")
	pw := &progressWriter{w: w, p: s.newProgress(w)}
	defer func() { s.m.served.Add(float64(pw.n)) }()
	if err := s.cfg.Store.ExportCAR(r.Context(), c, pw); err != nil {
		if errors.Is(err, store.ErrCorrupt) {
			s.reportCorrupt(c)
		}
		if pw.n == 0 {
			s.storeError(w, c, err)
			return
		}
		s.log.Warn("blobs: CAR export aborted", "cid", c.String(), "err", err)
		panic(http.ErrAbortHandler)
	}
}

// parseRange understands one range of the forms a-b, a- and -n; anything
// else (several ranges, other units) is served as the whole blob, which
// HTTP allows.
func parseRange(h string, size int64) (off, length int64, partial bool, err error) {
	spec, ok := strings.CutPrefix(h, "bytes=")
	if h == "" || !ok || strings.Contains(spec, ",") {
		return 0, size, false, nil
	}
	a, b, ok := strings.Cut(strings.TrimSpace(spec), "-")
	if !ok {
		return 0, size, false, nil
	}
	switch {
	case a == "":
		n, e := strconv.ParseInt(b, 10, 64)
		if e != nil || n <= 0 {
			return 0, 0, false, errors.New("bad suffix range")
		}
		n = min(n, size)
		return size - n, n, true, nil
	default:
		start, e := strconv.ParseInt(a, 10, 64)
		if e != nil || start < 0 || start >= size {
			return 0, 0, false, errors.New("range start outside the blob")
		}
		end := size - 1
		if b != "" {
			if end, e = strconv.ParseInt(b, 10, 64); e != nil || end < start {
				return 0, 0, false, errors.New("bad range end")
			}
			end = min(end, size-1)
		}
		return start, end - start + 1, true, nil
	}
}
