package client

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"strings"

	"github.com/resilientrecords/resilientrecords/ledger"
	"github.com/resilientrecords/resilientrecords/node"
)

// Network is the public description of a network a client talks to, the
// network.json file: its chain id and each node's API address and proxy
// key. It holds nothing secret.
type Network struct {
	ChainID string        `json:"chain_id"`
	Nodes   []NetworkNode `json:"nodes"`
}

// NetworkNode is one node of a Network.
type NetworkNode struct {
	Name     string        `json:"name"`
	API      string        `json:"api"` // base URL of the node's HTTP API, e.g. http://127.0.0.1:26680
	ProxyKey ledger.PubKey `json:"proxy_key"`
}

// maxNetworkFile bounds network.json: a few hundred bytes per node.
const maxNetworkFile = 1 << 20

// ErrBadNetwork reports a network file that does not parse or breaks a rule.
var ErrBadNetwork = errors.New("client: bad network description")

// LoadNetwork reads a network.json file.
func LoadNetwork(path string) (*Network, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxNetworkFile+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxNetworkFile {
		return nil, fmt.Errorf("%w: %s is larger than %d bytes", ErrBadNetwork, path, maxNetworkFile)
	}
	return ParseNetwork(b)
}

// ParseNetwork decodes and checks a network description.
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
	if err := nw.check(); err != nil {
		return nil, err
	}
	return &nw, nil
}

func (nw *Network) check() error {
	if nw.ChainID == "" || len(nw.ChainID) > ledger.MaxChainID {
		return fmt.Errorf("%w: chain_id must be 1 to %d bytes", ErrBadNetwork, ledger.MaxChainID)
	}
	if len(nw.Nodes) == 0 || len(nw.Nodes) > ledger.MaxGrantNodes {
		return fmt.Errorf("%w: 1 to %d nodes expected", ErrBadNetwork, ledger.MaxGrantNodes)
	}
	seen := map[ledger.PubKey]bool{}
	for i, n := range nw.Nodes {
		u, err := url.Parse(n.API)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("%w: node %d: api must be an http(s) URL", ErrBadNetwork, i)
		}
		if n.ProxyKey == (ledger.PubKey{}) || seen[n.ProxyKey] {
			return fmt.Errorf("%w: node %d: missing or repeated proxy_key", ErrBadNetwork, i)
		}
		seen[n.ProxyKey] = true
	}
	return nil
}

// WriteFile writes the description as indented JSON (mode 0644: it is
// public), replacing the file atomically so a reader never sees half of it.
func (nw *Network) WriteFile(path string) error {
	if err := nw.check(); err != nil {
		return err
	}
	b, err := json.MarshalIndent(nw, "", "  ")
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// Proxies returns the nodes as the proxies Deposit and Gather talk to.
func (nw *Network) Proxies() []Node {
	out := make([]Node, len(nw.Nodes))
	for i, n := range nw.Nodes {
		out[i] = Node{Key: n.ProxyKey, URL: strings.TrimRight(n.API, "/")}
	}
	return out
}

// NetworkOf describes a local network (node.StartNetwork) from its homes,
// so it works while some nodes are stopped.
func NetworkOf(nw *node.Network) (*Network, error) {
	out := &Network{ChainID: nw.ChainID()}
	for _, home := range nw.Homes() {
		s, err := node.ReadSettings(home)
		if err != nil {
			return nil, err
		}
		sk, err := node.LoadProxyKey(home)
		if err != nil {
			return nil, err
		}
		out.Nodes = append(out.Nodes, NetworkNode{Name: s.Moniker, API: "http://" + s.APIAddr,
			ProxyKey: ledger.PubKeyOf(sk.PublicKey())})
	}
	return out, out.check()
}
