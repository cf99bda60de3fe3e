package protocol_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/resilientrecords/resilientrecords/protocol"
	"github.com/resilientrecords/resilientrecords/protocol/protocoltest"
)

func testKey() protocol.PubKey { return protocoltest.NewAccount(testChain).Key }

func testNetwork() *protocol.Network {
	return &protocol.Network{ChainID: "rr-test", Nodes: []protocol.Node{
		{Name: "a", API: "http://127.0.0.1:1234", ProxyKey: testKey(), ValidatorKey: bytes.Repeat([]byte{0xa1}, 32), Power: 10},
		{Name: "b", API: "https://node-b.example:443/", ProxyKey: testKey(), ValidatorKey: bytes.Repeat([]byte{0xb2}, 32), Power: 7},
	}}
}

// TestNetworkRoundTrip: what JSON writes, ParseNetwork and LoadNetwork read back unchanged.
// (Writing the file, with its mode, is node.WriteNetworkFile's; it writes JSON's bytes.)
func TestNetworkRoundTrip(t *testing.T) {
	nw := testNetwork()
	b, err := nw.JSON()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasSuffix(b, []byte("}\n")) || !bytes.Contains(b, []byte("\n  \"nodes\"")) {
		t.Fatalf("not indented JSON ending in a newline:\n%s", b)
	}
	for _, field := range []string{`"chain_id"`, `"name"`, `"api"`, `"proxy_key"`, `"validator_key"`, `"power"`} {
		if !bytes.Contains(b, []byte(field)) {
			t.Errorf("network.json has no %s field:\n%s", field, b)
		}
	}
	if bytes.Contains(b, []byte(`"index"`)) {
		t.Errorf("network.json still has an index field:\n%s", b)
	}
	path := filepath.Join(t.TempDir(), "network.json")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := protocol.LoadNetwork(path)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, nw) {
		t.Fatalf("got %+v\nwant %+v", got, nw)
	}
	if u := got.Nodes[1].URL(); u != "https://node-b.example:443" {
		t.Fatalf("URL %q keeps the trailing slash", u)
	}
	if n, ok := got.NodeByKey(nw.Nodes[0].ProxyKey); !ok || n.Name != "a" {
		t.Fatalf("NodeByKey: %+v, %v", n, ok)
	}
	if _, ok := got.NodeByKey(testKey()); ok {
		t.Fatal("NodeByKey found a key that is not in the registry")
	}
	again, err := got.JSON()
	if err != nil || !bytes.Equal(again, b) {
		t.Fatalf("JSON of the parsed network differs: %v\n%s", err, again)
	}
}

func TestParseNetworkRejects(t *testing.T) {
	k := testKey().String()
	node := `{"name":"a","api":"http://127.0.0.1:1","proxy_key":"` + k + `"}`
	withNode := func(fields string) string {
		return `{"chain_id":"c","nodes":[{"api":"http://h","proxy_key":"` + k + `",` + fields + `}]}`
	}
	for name, text := range map[string]string{
		"not json":           `{`,
		"empty":              ``,
		"no chain":           `{"chain_id":"","nodes":[` + node + `]}`,
		"long chain":         `{"chain_id":"` + strings.Repeat("c", protocol.MaxChainID+1) + `","nodes":[` + node + `]}`,
		"no nodes":           `{"chain_id":"c","nodes":[]}`,
		"null nodes":         `{"chain_id":"c","nodes":null}`,
		"repeated key":       `{"chain_id":"c","nodes":[` + node + `,` + node + `]}`,
		"bad url":            `{"chain_id":"c","nodes":[{"name":"a","api":"127.0.0.1:1","proxy_key":"` + k + `"}]}`,
		"ftp url":            `{"chain_id":"c","nodes":[{"name":"a","api":"ftp://h","proxy_key":"` + k + `"}]}`,
		"bad key":            `{"chain_id":"c","nodes":[{"name":"a","api":"http://h","proxy_key":"02ff"}]}`,
		"key not a point":    `{"chain_id":"c","nodes":[{"name":"a","api":"http://h","proxy_key":"02` + strings.Repeat("11", 32) + `"}]}`,
		"unknown field":      `{"chain_id":"c","rpc":"x","nodes":[` + node + `]}`,
		"old index field":    withNode(`"index":0`),
		"missing key":        `{"chain_id":"c","nodes":[{"name":"a","api":"http://h"}]}`,
		"trailing object":    `{"chain_id":"c","nodes":[` + node + `]} {}`,
		"long name":          withNode(`"name":"` + strings.Repeat("n", protocol.MaxNodeName+1) + `"`),
		"long api":           `{"chain_id":"c","nodes":[{"api":"http://h/` + strings.Repeat("p", protocol.MaxAPIURL) + `","proxy_key":"` + k + `"}]}`,
		"negative power":     withNode(`"power":-1`),
		"validator key hex":  withNode(`"validator_key":"zz"`),
		"long validator key": withNode(`"validator_key":"` + strings.Repeat("ab", protocol.MaxValidatorKey+1) + `"`),
	} {
		if _, err := protocol.ParseNetwork([]byte(text)); !errors.Is(err, protocol.ErrBadNetwork) {
			t.Errorf("%s: %v, want ErrBadNetwork", name, err)
		}
	}
	bad := testNetwork()
	bad.Nodes[1].ProxyKey = bad.Nodes[0].ProxyKey
	if _, err := bad.JSON(); !errors.Is(err, protocol.ErrBadNetwork) {
		t.Errorf("JSON of a network that breaks the rules: %v", err)
	}
	path := filepath.Join(t.TempDir(), "network.json")
	if err := os.WriteFile(path, bytes.Repeat([]byte(" "), protocol.MaxNetworkFile+1), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := protocol.LoadNetwork(path); !errors.Is(err, protocol.ErrBadNetwork) {
		t.Errorf("oversized file: %v", err)
	}
	if _, err := protocol.LoadNetwork(filepath.Join(t.TempDir(), "absent.json")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("absent file: %v", err)
	}
}

// FuzzParseNetwork: a refusal wraps ErrBadNetwork; what is accepted checks, and its JSON
// parses back to the same JSON.
func FuzzParseNetwork(f *testing.F) {
	f.Add([]byte(`{"chain_id":"c","nodes":[{"name":"a","api":"http://127.0.0.1:1","proxy_key":"` + testKey().String() + `"}]}`))
	f.Add([]byte(`{"chain_id":"c","nodes":null}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		nw, err := protocol.ParseNetwork(b)
		if err != nil {
			if !errors.Is(err, protocol.ErrBadNetwork) {
				t.Fatalf("error %v does not wrap ErrBadNetwork", err)
			}
			return
		}
		if err := nw.Check(); err != nil {
			t.Fatalf("accepted a network that does not check: %v", err)
		}
		j, err := nw.JSON()
		if err != nil {
			t.Fatalf("JSON of an accepted network: %v", err)
		}
		back, err := protocol.ParseNetwork(j)
		if err != nil {
			t.Fatalf("JSON of an accepted network does not parse: %v\n%s", err, j)
		}
		if j2, err := back.JSON(); err != nil || !bytes.Equal(j, j2) {
			t.Fatalf("JSON does not round-trip: %v\n%s\n%s", err, j, j2)
		}
		for _, n := range nw.Nodes {
			if strings.HasSuffix(n.URL(), "/") {
				t.Fatalf("URL %q ends in a slash", n.URL())
			}
		}
	})
}
