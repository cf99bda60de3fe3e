package blobs

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/ipfs/go-cid"

	"github.com/resilientrecords/resilientrecords/protocol"
)

// A marker is a file <Dir>/<cid>.json for an upload that no committed
// record has taken yet. It outlives restarts, so the grace-period sweep
// still finds uploads from before a crash.
type marker struct {
	Signer protocol.PubKey `json:"signer"`
	Size   int64           `json:"size"`
	Time   int64           `json:"time"` // unix nanoseconds of the upload
}

const maxMarkerFile = 1 << 10

func loadMarkers(dir string) (map[cid.Cid]*marker, error) {
	out := map[cid.Cid]*marker{}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("blobs: %w", err)
	}
	for _, e := range ents {
		name, ok := cutSuffix(e.Name(), ".json")
		if !ok {
			continue
		}
		c, err := cid.Decode(name)
		if err != nil {
			continue
		}
		b, err := readBounded(filepath.Join(dir, e.Name()))
		var m marker
		if err != nil || json.Unmarshal(b, &m) != nil {
			// An unreadable marker still marks an upload: sweep it at once.
			m = marker{}
		}
		out[c] = &m
	}
	return out, nil
}

func cutSuffix(s, suf string) (string, bool) {
	if len(s) > len(suf) && s[len(s)-len(suf):] == suf {
		return s[:len(s)-len(suf)], true
	}
	return s, false
}

func readBounded(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b := make([]byte, maxMarkerFile+1)
	n, err := f.Read(b)
	if n > maxMarkerFile {
		return nil, errors.New("marker too large")
	}
	if err != nil && n == 0 {
		return nil, err
	}
	return b[:n], nil
}

func (s *Service) markerPath(c cid.Cid) string { return filepath.Join(s.cfg.Dir, c.String()+".json") }

// addMarker records an upload, unless the blob already has a marker.
func (s *Service) addMarker(c cid.Cid, m *marker) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.pending[c]; ok {
		return nil
	}
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	if err := os.WriteFile(s.markerPath(c), b, 0o600); err != nil {
		return fmt.Errorf("blobs: upload marker: %w", err)
	}
	s.pending[c] = m
	s.pendingBy[m.Signer] += m.Size
	return nil
}

func (s *Service) dropMarker(c cid.Cid) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.pending[c]; !ok {
		return
	}
	if err := os.Remove(s.markerPath(c)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		s.log.Warn("blobs: removing an upload marker", "cid", c.String(), "err", err)
		return
	}
	m := s.pending[c]
	if s.pendingBy[m.Signer] -= m.Size; s.pendingBy[m.Signer] <= 0 {
		delete(s.pendingBy, m.Signer)
	}
	delete(s.pending, c)
}

func (s *Service) hasMarker(c cid.Cid) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.pending[c]
	return ok
}
