package client

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/resilientrecords/resilientrecords/ledger"
	"github.com/resilientrecords/resilientrecords/umbral"
)

func testKey(t testing.TB) ledger.PubKey {
	sk, err := umbral.GenerateSecretKey()
	if err != nil {
		t.Fatal(err)
	}
	return ledger.PubKeyOf(sk.PublicKey())
}

func TestNetworkFileRoundTrip(t *testing.T) {
	nw := &Network{ChainID: "rr-test", Nodes: []NetworkNode{
		{Name: "a", API: "http://127.0.0.1:1234", ProxyKey: testKey(t)},
		{Name: "b", API: "https://node-b.example:443/", ProxyKey: testKey(t)},
	}}
	path := filepath.Join(t.TempDir(), "network.json")
	if err := nw.WriteFile(path); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o644 {
		t.Fatalf("mode %v: %v", fi.Mode(), err)
	}
	got, err := LoadNetwork(path)
	if err != nil {
		t.Fatal(err)
	}
	if got.ChainID != nw.ChainID || len(got.Nodes) != 2 || got.Nodes[1] != nw.Nodes[1] {
		t.Fatalf("got %+v", got)
	}
	if p := got.Proxies(); p[1].URL != "https://node-b.example:443" || p[0].Key != nw.Nodes[0].ProxyKey {
		t.Fatalf("proxies %+v", p)
	}
}

func TestParseNetworkRejects(t *testing.T) {
	k := testKey(t).String()
	node := `{"name":"a","api":"http://127.0.0.1:1","proxy_key":"` + k + `"}`
	for name, text := range map[string]string{
		"not json":        `{`,
		"no chain":        `{"chain_id":"","nodes":[` + node + `]}`,
		"long chain":      `{"chain_id":"` + strings.Repeat("c", 51) + `","nodes":[` + node + `]}`,
		"no nodes":        `{"chain_id":"c","nodes":[]}`,
		"repeated key":    `{"chain_id":"c","nodes":[` + node + `,` + node + `]}`,
		"bad url":         `{"chain_id":"c","nodes":[{"name":"a","api":"127.0.0.1:1","proxy_key":"` + k + `"}]}`,
		"bad key":         `{"chain_id":"c","nodes":[{"name":"a","api":"http://h","proxy_key":"02ff"}]}`,
		"unknown field":   `{"chain_id":"c","rpc":"x","nodes":[` + node + `]}`,
		"missing key":     `{"chain_id":"c","nodes":[{"name":"a","api":"http://h"}]}`,
		"trailing object": `{"chain_id":"c","nodes":[` + node + `]} {}`,
	} {
		if _, err := ParseNetwork([]byte(text)); !errors.Is(err, ErrBadNetwork) {
			t.Errorf("%s: %v, want ErrBadNetwork", name, err)
		}
	}
}

func FuzzParseNetwork(f *testing.F) {
	f.Add([]byte(`{"chain_id":"c","nodes":[{"name":"a","api":"http://127.0.0.1:1","proxy_key":"` + testKey(f).String() + `"}]}`))
	f.Add([]byte(`{"chain_id":"c","nodes":null}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		nw, err := ParseNetwork(b)
		if err != nil {
			if !errors.Is(err, ErrBadNetwork) {
				t.Fatalf("error %v does not wrap ErrBadNetwork", err)
			}
			return
		}
		if nw.check() != nil || len(nw.Proxies()) != len(nw.Nodes) {
			t.Fatal("accepted a network that does not check")
		}
	})
}
