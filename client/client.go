// Package client is the Go SDK for owners and recipients.
//
// Session is the high-level API: one identity on one network (network.json,
// see SPEC.md), with Put, Grant, Revoke, Erase, Records, Audit for owners
// and Shared and Get for recipients. Every call waits for commit, moves on
// to the next node when one fails, and returns errors that match the
// sentinels in errors.go.
//
// The low-level pieces underneath are exported too: MakeFragments and
// Client.Deposit for a grant's key fragments, Client.Gather for verified
// capsule fragments, and the blob upload and fetch functions.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/resilientrecords/resilientrecords/ledger"
	"github.com/resilientrecords/resilientrecords/proxy"
)

// maxAnswer bounds what the client reads from a node: answers are small
// fixed-shape JSON objects.
const maxAnswer = 16 << 10

// Node is a proxy the client talks to: its proxy key (its name in grants)
// and the base URL of its HTTP API.
type Node struct {
	Key ledger.PubKey
	URL string // e.g. http://127.0.0.1:26680
}

// NodesFromRegistry turns the ledger's node registry into Nodes, with
// plain-HTTP URLs on the registered API addresses.
func NodesFromRegistry(reg []ledger.NodeInfo) []Node {
	out := make([]Node, len(reg))
	for i, n := range reg {
		u := n.APIAddr
		if !strings.Contains(u, "://") {
			u = "http://" + u
		}
		out[i] = Node{Key: n.ProxyKey, URL: strings.TrimRight(u, "/")}
	}
	return out
}

// Client talks to proxies over HTTP.
type Client struct {
	HTTP *http.Client // nil: a client with a 10 s timeout
	// Now is the wall clock for request freshness bounds (default time.Now).
	Now func() time.Time
}

var defaultHTTP = &http.Client{Timeout: 10 * time.Second}

func (c *Client) http() *http.Client {
	if c.HTTP != nil {
		return c.HTTP
	}
	return defaultHTTP
}

func (c *Client) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

// ErrNodeAnswer wraps answers from a node that do not parse.
var ErrNodeAnswer = errors.New("client: malformed answer from node")

// post sends v as JSON and decodes a 2xx answer into out; a refusal comes
// back as a *proxy.Error.
func (c *Client) post(ctx context.Context, url string, v, out any) error {
	body, err := json.Marshal(v)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.http().Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer+1))
	if err != nil {
		return err
	}
	if len(b) > maxAnswer {
		return fmt.Errorf("%w: answer longer than %d bytes", ErrNodeAnswer, maxAnswer)
	}
	if resp.StatusCode/100 != 2 {
		var eb struct {
			Error *proxy.Error `json:"error"`
		}
		if json.Unmarshal(b, &eb) != nil || eb.Error == nil || eb.Error.Code == "" {
			return fmt.Errorf("%w: HTTP %d", ErrNodeAnswer, resp.StatusCode)
		}
		eb.Error.Status = resp.StatusCode
		return eb.Error
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(out); err != nil {
		return fmt.Errorf("%w: %v", ErrNodeAnswer, err)
	}
	return nil
}
