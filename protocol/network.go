package protocol

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"strings"
)

// Network is network.json (SPEC.md §9): the public description of a network that a client
// holds — its chain id and the node registry as genesis fixed it (each node's name, API URL,
// proxy key, consensus key and voting power). It holds nothing secret.
type Network struct {
	ChainID string `json:"chain_id"`
	Nodes   []Node `json:"nodes"`
}

// MaxNetworkFile bounds network.json: a few hundred bytes per node.
const MaxNetworkFile = 1 << 20

// ErrBadNetwork reports a network description that does not parse or breaks a rule.
var ErrBadNetwork = errors.New("bad network description")

// LoadNetwork reads a network.json file.
func LoadNetwork(path string) (*Network, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, MaxNetworkFile+1))
	if err != nil {
		return nil, err
	}
	if len(b) > MaxNetworkFile {
		return nil, fmt.Errorf("%w: %s is larger than %d bytes", ErrBadNetwork, path, MaxNetworkFile)
	}
	return ParseNetwork(b)
}

// ParseNetwork decodes and checks a network description: unknown fields and data after the
// object are refused.
func ParseNetwork(b []byte) (*Network, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var nw Network
	if err := dec.Decode(&nw); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadNetwork, err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%w: data after the JSON object", ErrBadNetwork)
	}
	if err := nw.Check(); err != nil {
		return nil, err
	}
	return &nw, nil
}

// Check applies the rules of a network description.
func (nw *Network) Check() error {
	if nw.ChainID == "" || len(nw.ChainID) > MaxChainID {
		return fmt.Errorf("%w: chain_id must be 1 to %d bytes", ErrBadNetwork, MaxChainID)
	}
	if len(nw.Nodes) == 0 || len(nw.Nodes) > MaxGrantNodes {
		return fmt.Errorf("%w: 1 to %d nodes expected", ErrBadNetwork, MaxGrantNodes)
	}
	seen := map[PubKey]bool{}
	for i, n := range nw.Nodes {
		if err := n.check(); err != nil {
			return fmt.Errorf("%w: node %d: %v", ErrBadNetwork, i, err)
		}
		if seen[n.ProxyKey] {
			return fmt.Errorf("%w: node %d: proxy_key listed twice", ErrBadNetwork, i)
		}
		seen[n.ProxyKey] = true
	}
	return nil
}

// check applies the rules of one registry entry.
func (n *Node) check() error {
	if len(n.Name) > MaxNodeName {
		return fmt.Errorf("name longer than %d bytes", MaxNodeName)
	}
	if len(n.API) > MaxAPIURL {
		return fmt.Errorf("api longer than %d bytes", MaxAPIURL)
	}
	u, err := url.Parse(n.API)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return errors.New("api must be an http(s) URL")
	}
	if !n.ProxyKey.Valid() {
		return errors.New("proxy_key is not a valid public key")
	}
	if len(n.ValidatorKey) > MaxValidatorKey {
		return fmt.Errorf("validator_key longer than %d bytes", MaxValidatorKey)
	}
	if n.Power < 0 {
		return errors.New("negative power")
	}
	return nil
}

// F is how many of the network's nodes may fail or lie: ⌊(n−1)/3⌋.
func (nw *Network) F() int { return FaultTolerance(len(nw.Nodes)) }

// URL is the base URL of the node's API, without a trailing slash.
func (n *Node) URL() string { return strings.TrimRight(n.API, "/") }

// JSON is the description as written to network.json, checked.
func (nw *Network) JSON() ([]byte, error) {
	if err := nw.Check(); err != nil {
		return nil, err
	}
	b, err := json.MarshalIndent(nw, "", "  ")
	return append(b, '\n'), err
}

// NodeByKey returns the node with this proxy key.
func (nw *Network) NodeByKey(k PubKey) (Node, bool) {
	for _, n := range nw.Nodes {
		if n.ProxyKey == k {
			return n, true
		}
	}
	return Node{}, false
}
