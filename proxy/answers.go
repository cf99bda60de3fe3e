package proxy

import (
	"sync"

	"github.com/resilientrecords/resilientrecords/protocol"
)

// AnswersPerRequest is how many capsule fragments a node makes for one committed access
// request: enough for a client to ask again after a lost answer. Past it a requester must
// commit a new request, which the ledger paces; without the bound, one committed request
// would buy unlimited curve work for its window.
const AnswersPerRequest = 4

// answers counts the fragments made per request, in two generations of at most max entries
// each: when the newer fills, the older is dropped. A count can only be forgotten after
// 2×max newer requests were answered, each of which had to commit.
type answers struct {
	mu        sync.Mutex
	max       int
	cur, prev map[protocol.Hash32]uint16
}

func newAnswers(max int) *answers {
	return &answers{max: max, cur: map[protocol.Hash32]uint16{}, prev: map[protocol.Hash32]uint16{}}
}

// take counts one more answer to request, or reports that it had its share of limit.
func (a *answers) take(request protocol.Hash32, limit int) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	n, ok := a.cur[request]
	if !ok {
		n = a.prev[request]
	}
	if int(n) >= limit {
		return false
	}
	if !ok && len(a.cur) >= a.max {
		a.prev, a.cur = a.cur, make(map[protocol.Hash32]uint16, a.max)
	}
	a.cur[request] = n + 1
	return true
}
