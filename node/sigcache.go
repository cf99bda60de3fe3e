package node

import (
	"sync"

	"github.com/resilientrecords/resilientrecords/protocol"
)

// sigCache remembers hashes of transactions that passed this node's CheckTx (stateless
// validation and signature), so ProcessProposal and FinalizeBlock need not repeat that
// curve arithmetic. It is safe for determinism: both checks are pure functions of the bytes
// the hash covers (the chain id and all stateful rules are still checked), and a miss only
// means checking again. It is bounded; when full it is emptied.
type sigCache struct {
	mu  sync.Mutex
	max int
	m   map[protocol.Hash32]struct{}
}

func newSigCache(max int) *sigCache {
	return &sigCache{max: max, m: make(map[protocol.Hash32]struct{})}
}

func (c *sigCache) add(h protocol.Hash32) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.max == 0 {
		return
	}
	if len(c.m) >= c.max {
		clear(c.m)
	}
	c.m[h] = struct{}{}
}

func (c *sigCache) has(h protocol.Hash32) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, ok := c.m[h]
	return ok
}

func (c *sigCache) take(h protocol.Hash32) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, ok := c.m[h]
	delete(c.m, h)
	return ok
}
