// Package client is the Go SDK for owners and recipients.
//
// Session is the high-level API: one identity on one network (network.json, see
// protocol.Network), with Put, Grant, Revoke, Erase, Records, Audit for owners and Shared
// and Get for recipients. Every call waits for commit, moves on to the next node when one
// fails, and returns errors that match the sentinels in errors.go.
//
// The low-level pieces underneath are exported too: MakeFragments and API.Deposit for a
// grant's key fragments, API.Gather for verified capsule fragments, and the blob upload and
// fetch calls. The SDK links none of the node's server side: the wire formats are package
// protocol's.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"math/rand/v2"
	"net/http"
	"strconv"
	"time"

	"github.com/resilientrecords/resilientrecords/protocol"
)

// maxAnswer bounds what the client reads from a node's proxy routes: answers are small
// fixed-shape JSON objects.
const maxAnswer = 16 << 10

// API makes the low-level calls of the nodes' HTTP API: deposits, re-encryption, blobs.
type API struct {
	HTTP *http.Client // nil: a client with a 10 s timeout (blobs: no overall timeout)
	// Now is the wall clock for request freshness bounds (default time.Now).
	Now func() time.Time
}

var defaultHTTP = &http.Client{Timeout: 10 * time.Second}

func (c *API) http() *http.Client {
	if c.HTTP != nil {
		return c.HTTP
	}
	return defaultHTTP
}

func (c *API) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

// ErrNodeAnswer wraps answers from a node that do not parse.
var ErrNodeAnswer = protocol.ErrBadAnswer

// post sends v as JSON and decodes a 2xx answer into out; a refusal comes back as a
// *protocol.Error. A node that is busy, or paces this client, says when to come back
// (Retry-After): post does, a few times, within ctx.
func (c *API) post(ctx context.Context, url string, v, out any) error {
	body, err := json.Marshal(v)
	if err != nil {
		return err
	}
	for attempt := 0; ; attempt++ {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", "application/json")
		resp, err := c.http().Do(req)
		if err != nil {
			return err
		}
		wait, again := retryAfter(resp)
		err = protocol.ReadAnswer(resp, maxAnswer, out)
		resp.Body.Close()
		if !again || attempt == maxRetries {
			return err
		}
		if err := sleep(ctx, wait); err != nil {
			return err
		}
	}
}

// maxRetries bounds the retries of one request a node asked to come back later.
const maxRetries = 4

// retryAfter says whether resp asks to come back later (busy or paced: 503 or 429), and
// when: its Retry-After, at most 2 s, with up to half of it again as jitter so that clients
// turned away together do not all return together.
func retryAfter(resp *http.Response) (time.Duration, bool) {
	if resp.StatusCode != http.StatusServiceUnavailable && resp.StatusCode != http.StatusTooManyRequests {
		return 0, false
	}
	secs, err := strconv.Atoi(resp.Header.Get("Retry-After"))
	if err != nil || secs < 0 {
		return 0, false
	}
	d := min(time.Duration(secs)*time.Second, 2*time.Second)
	if d == 0 {
		d = 100 * time.Millisecond
	}
	return d + rand.N(d/2+1), true
}
