package kubo

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/url"

	"github.com/ipfs/go-cid"

	"github.com/resilientrecords/resilientrecords/store"
	"github.com/resilientrecords/resilientrecords/store/internal/dagio"
	"github.com/resilientrecords/resilientrecords/store/local"
)

// pins lists the store's recursive pins; with c defined, only c (empty if c is not pinned).
func (s *Store) pins(ctx context.Context, c cid.Cid) ([]cid.Cid, error) {
	args := url.Values{"type": {"recursive"}, "names": {"true"}, "offline": {"true"}}
	if c.Defined() {
		args.Set("arg", c.String())
	}
	var out []cid.Cid
	err := s.callJSON(ctx, "pin/ls", args, nil, "", func(dec *json.Decoder) error {
		var ans struct {
			Keys map[string]struct{ Type, Name string }
		}
		if err := dec.Decode(&ans); err != nil {
			return fmt.Errorf("kubo pin/ls: bad answer: %w", err)
		}
		for k, v := range ans.Keys {
			if v.Name != s.pinName {
				continue
			}
			pc, err := cid.Decode(k)
			if err != nil {
				return fmt.Errorf("kubo pin/ls: bad CID %q", k)
			}
			out = append(out, pc)
		}
		return nil
	})
	if c.Defined() && isNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("kubo store: %w", err)
	}
	return out, nil
}

// Has reports whether c is pinned under the store's name.
func (s *Store) Has(ctx context.Context, c cid.Cid) (bool, error) {
	if dagio.CheckCID(c) != nil {
		return false, nil
	}
	p, err := s.pins(ctx, c)
	return len(p) > 0, err
}

// List returns the roots pinned under the store's name.
func (s *Store) List(ctx context.Context) ([]cid.Cid, error) { return s.pins(ctx, cid.Undef) }

func (s *Store) requireRoot(ctx context.Context, c cid.Cid) error {
	if err := dagio.CheckCID(c); err != nil {
		return err
	}
	ok, err := s.Has(ctx, c)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("%w: %s is not pinned as %q on %s", store.ErrNotFound, c, s.pinName, s.addr)
	}
	return nil
}

// Get returns a verifying reader of the whole blob.
func (s *Store) Get(ctx context.Context, c cid.Cid) (io.ReadCloser, error) {
	return s.GetRange(ctx, c, 0, -1)
}

// GetRange returns a verifying reader of part of the blob; it fetches only the blocks it needs.
func (s *Store) GetRange(ctx context.Context, c cid.Cid, offset, length int64) (io.ReadCloser, error) {
	if err := s.requireRoot(ctx, c); err != nil {
		return nil, err
	}
	return dagio.NewReader(ctx, s.getBlock, c, offset, length)
}

// Size returns the blob's length.
func (s *Store) Size(ctx context.Context, c cid.Cid) (int64, error) {
	if err := s.requireRoot(ctx, c); err != nil {
		return 0, err
	}
	return dagio.Size(ctx, s.getBlock, c)
}

// ExportCAR writes the blob as a CARv1, verifying every block it fetches.
func (s *Store) ExportCAR(ctx context.Context, c cid.Cid, w io.Writer) error {
	if err := s.requireRoot(ctx, c); err != nil {
		return err
	}
	return dagio.WriteCAR(ctx, w, s.getBlock, c)
}

// Delete unpins c and garbage-collects the daemon's repo, so every block only c used is gone
// when it returns.
func (s *Store) Delete(ctx context.Context, c cid.Cid) error {
	if err := s.requireRoot(ctx, c); err != nil {
		return err
	}
	resp, err := s.call(ctx, "pin/rm", cidArg(c), nil, "")
	if err != nil {
		return fmt.Errorf("kubo store: delete %s: %w", c, err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return s.gc(ctx)
}

func (s *Store) gc(ctx context.Context) error {
	err := s.callJSON(ctx, "repo/gc", url.Values{"quiet": {"true"}}, nil, "", func(dec *json.Decoder) error {
		var out struct{ Error string }
		if err := dec.Decode(&out); err != nil {
			return fmt.Errorf("kubo repo/gc: bad answer: %w", err)
		}
		if out.Error != "" {
			return fmt.Errorf("kubo repo/gc: %s", out.Error)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("kubo store: %w", err)
	}
	return nil
}

// ImportCAR verifies and checks the CAR in a temporary local store, then pushes each root's DAG
// to the daemon. Nothing reaches the daemon unless the whole CAR is valid.
func (s *Store) ImportCAR(ctx context.Context, r io.Reader) ([]cid.Cid, error) {
	var roots []cid.Cid
	err := s.stage(func(tmp *local.Store) error {
		var err error
		if roots, err = tmp.ImportCAR(ctx, r); err != nil {
			return err
		}
		for _, root := range roots {
			if err := s.push(ctx, tmp, root); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("kubo store: import CAR: %w", err)
	}
	return roots, nil
}
