package kubo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// ErrUnreachable means no kubo daemon answered at the store's address.
var ErrUnreachable = errors.New("kubo daemon unreachable")

// rpcError is an error the daemon reported for a command.
type rpcError struct {
	Command string
	Status  int
	Message string
}

func (e *rpcError) Error() string {
	return fmt.Sprintf("kubo %s: %s (HTTP %d)", e.Command, e.Message, e.Status)
}

// maxErrorBody bounds how much of an error response is read.
const maxErrorBody = 64 << 10

// call POSTs an RPC command and returns the response on HTTP 200. body may be nil; otherwise it
// is sent with the given content type. The caller closes the response body.
func (s *Store) call(ctx context.Context, cmd string, args url.Values, body io.Reader, contentType string) (*http.Response, error) {
	u := s.base + "/api/v0/" + cmd
	if len(args) > 0 {
		u += "?" + args.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, body)
	if err != nil {
		return nil, fmt.Errorf("kubo %s: %w", cmd, err)
	}
	if body != nil {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := s.hc.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("kubo %s at %s: %w", cmd, s.addr, ctx.Err())
		}
		return nil, fmt.Errorf("%w at %s (is the daemon running?): %v", ErrUnreachable, s.addr, err)
	}
	if resp.StatusCode == http.StatusOK {
		return resp, nil
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	var msg struct{ Message string }
	if json.Unmarshal(raw, &msg) != nil || msg.Message == "" {
		msg.Message = strings.TrimSpace(string(raw))
	}
	return nil, &rpcError{Command: cmd, Status: resp.StatusCode, Message: msg.Message}
}

// callJSON runs a command and decodes a stream of JSON values from its response, calling each
// for every value until the stream ends.
func (s *Store) callJSON(ctx context.Context, cmd string, args url.Values, body io.Reader, contentType string, each func(*json.Decoder) error) error {
	resp, err := s.call(ctx, cmd, args, body, contentType)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	dec := json.NewDecoder(io.LimitReader(resp.Body, maxJSONResponse))
	for dec.More() {
		if err := each(dec); err != nil {
			return err
		}
	}
	// A streamed command reports a late failure in the X-Stream-Error trailer.
	io.Copy(io.Discard, resp.Body)
	if e := resp.Trailer.Get("X-Stream-Error"); e != "" {
		return &rpcError{Command: cmd, Status: resp.StatusCode, Message: e}
	}
	return nil
}

// maxJSONResponse bounds a JSON answer (a pin list of a large store stays far below it).
const maxJSONResponse = 64 << 20

// isNotFound reports whether the daemon said it lacks a block or pin.
func isNotFound(err error) bool {
	var re *rpcError
	if !errors.As(err, &re) {
		return false
	}
	m := strings.ToLower(re.Message)
	return strings.Contains(m, "not found") || strings.Contains(m, "could not find") || strings.Contains(m, "not pinned")
}
