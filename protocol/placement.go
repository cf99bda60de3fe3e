package protocol

import (
	"bytes"
	"crypto/sha256"
	"sort"
)

// PlacementScore ranks nodes for a record (rendezvous hashing): the nodes with the k lowest
// scores hold its blob. Every node computes the same ranking from the record id and the
// registry alone, and adding a record never moves another record's blob.
func PlacementScore(record ID, node PubKey) [32]byte {
	h := sha256.New()
	h.Write([]byte("resilientrecords/placement/v1\x00"))
	h.Write(record[:])
	h.Write(node[:])
	var s [32]byte
	h.Sum(s[:0])
	return s
}

// Placement returns the registry positions of the nodes that should hold the record's blob:
// the k nodes with the lowest placement score, in score order (every node, in score order,
// when k is 0 or at least the registry's size).
func Placement(record ID, nodes []Node, k int) []int {
	out := make([]int, len(nodes))
	scores := make([][32]byte, len(nodes))
	for i, n := range nodes {
		out[i], scores[i] = i, PlacementScore(record, n.ProxyKey)
	}
	sort.Slice(out, func(a, b int) bool { return bytes.Compare(scores[out[a]][:], scores[out[b]][:]) < 0 })
	if k > 0 && k < len(out) {
		out = out[:k]
	}
	return out
}
