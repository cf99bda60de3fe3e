package main

import (
	"github.com/resilientrecords/resilientrecords/client"
	"github.com/resilientrecords/resilientrecords/ledger"
	"github.com/resilientrecords/resilientrecords/node"
)

// networkOfHomes describes the network of node homes that are not (or not all) running, from
// their settings and proxy keys: client.NetworkOf does the same for a node.Network.
func networkOfHomes(chainID string, homes []string) (*client.Network, error) {
	nw := &client.Network{ChainID: chainID}
	for _, h := range homes {
		s, err := node.ReadSettings(h)
		if err != nil {
			return nil, err
		}
		sk, err := node.LoadProxyKey(h)
		if err != nil {
			return nil, err
		}
		nw.Nodes = append(nw.Nodes, client.NetworkNode{Name: s.Moniker, API: "http://" + s.APIAddr,
			ProxyKey: ledger.PubKeyOf(sk.PublicKey())})
	}
	return nw, nil
}
