package blobs

import (
	"math"
	"time"

	"github.com/resilientrecords/resilientrecords/protocol"
)

// Self-enrolled accounts cost only proof of work, so their uploads are paced in bytes, each
// account and all of them together: a flood of self-enrolled accounts, each within its
// allowance, cannot keep the node (and every node replicating after it) hashing and writing
// at line rate. Accounts a registry node admitted are not paced.
const (
	DefaultSelfUploadRate      = 1 << 20  // bytes a second, per self-enrolled account
	DefaultSelfUploadBurst     = 64 << 20 //
	DefaultSelfPoolUploadRate  = 2 << 20  // bytes a second, all self-enrolled accounts together
	DefaultSelfPoolUploadBurst = 64 << 20 //
	maxBudgets                 = 1 << 16  // per-account budgets remembered
)

// byteBudget is a token bucket in bytes that may go into debt: an upload is let in whenever
// the bucket is not in debt, whatever its size, and later ones wait until the debt is paid.
// A strict bucket would refuse for ever an upload larger than its burst.
type byteBudget struct {
	rate, burst float64
	tokens      float64
	last        time.Time
}

func newByteBudget(rate, burst int64, now time.Time) *byteBudget {
	return &byteBudget{rate: float64(rate), burst: float64(burst), tokens: float64(burst), last: now}
}

func (b *byteBudget) refill(now time.Time) {
	if now.After(b.last) {
		b.tokens = math.Min(b.burst, b.tokens+now.Sub(b.last).Seconds()*b.rate)
		b.last = now
	}
}

// wait is how long until the budget lets an upload in (zero: now).
func (b *byteBudget) wait(now time.Time) time.Duration {
	b.refill(now)
	if b.tokens >= 0 {
		return 0
	}
	return time.Duration(-b.tokens / b.rate * float64(time.Second))
}

func (b *byteBudget) take(n int64) { b.tokens -= float64(n) }

// full reports that the budget has refilled: it carries nothing worth remembering.
func (b *byteBudget) full(now time.Time) bool {
	b.refill(now)
	return b.tokens >= b.burst
}

// paceSelfLocked checks a self-enrolled account's upload of size against its byte budget and
// the one all such accounts share, and takes it from both; s.mu is held.
func (s *Service) paceSelfLocked(signer protocol.PubKey, size int64) (retry time.Duration, err *protocol.Error) {
	now := s.cfg.Now()
	acct := s.selfBudgets[signer]
	if acct == nil {
		if len(s.selfBudgets) >= maxBudgets {
			for k, b := range s.selfBudgets {
				if b.full(now) {
					delete(s.selfBudgets, k)
				}
			}
		}
		if len(s.selfBudgets) >= maxBudgets {
			return time.Second, protocol.Errorf(protocol.ErrBusy, "too many self-enrolled accounts are uploading; try again shortly")
		}
		acct = newByteBudget(s.cfg.SelfUploadRate, s.cfg.SelfUploadBurst, now)
		s.selfBudgets[signer] = acct
	}
	if d := acct.wait(now); d > 0 {
		return d, protocol.Errorf(protocol.ErrRateLimited, "a self-enrolled account uploads at most %d bytes a second on average to this node", s.cfg.SelfUploadRate)
	}
	if d := s.selfPool.wait(now); d > 0 {
		return d, protocol.Errorf(protocol.ErrBusy, "self-enrolled accounts upload at most %d bytes a second together to this node; try again later, or ask a node's operator to admit you", s.cfg.SelfPoolUploadRate)
	}
	acct.take(size)
	s.selfPool.take(size)
	return 0, nil
}
