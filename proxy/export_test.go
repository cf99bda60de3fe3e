package proxy

// HoldCurve takes a curve slot as a deposit (or a re-encryption) would, for tests that need
// the node busy without racing real requests for the slot.
func (s *Service) HoldCurve(deposit bool) (release func(), err error) {
	return s.curve.acquire(deposit)
}

// CurveState is the slots taken, those taken by deposits, and the requests waiting.
func (s *Service) CurveState() (used, deposits, waiting int) { return s.curve.state() }
