package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/resilientrecords/resilientrecords/ledger"
	"github.com/resilientrecords/resilientrecords/node"
)

// networkFile is network.json: what a client needs to reach a network.
type networkFile struct {
	ChainID string        `json:"chain_id"`
	Nodes   []networkNode `json:"nodes"`
}

type networkNode struct {
	Name     string        `json:"name"`
	API      string        `json:"api"`
	ProxyKey ledger.PubKey `json:"proxy_key"`
}

// writeNetworkFile writes network.json atomically, so that a script waiting for the file
// never reads half of it.
func writeNetworkFile(path, chainID string, nodes []*node.Node) error {
	f := networkFile{ChainID: chainID}
	for _, n := range nodes {
		s := n.Settings()
		f.Nodes = append(f.Nodes, networkNode{Name: s.Moniker, API: "http://" + s.APIAddr, ProxyKey: n.Proxy().NodeKey()})
	}
	return f.write(path)
}

func (f *networkFile) write(path string) error {
	b, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".network-*.json")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(append(b, '\n')); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
