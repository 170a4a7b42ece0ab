// Package cluster shares the projects of `synclang serve` between replicas
// (processes on one or several machines) through River
// (github.com/riverqueue/river), the PostgreSQL job queue for Go. The entry
// point is [Open], then [Cluster.Start] and [Cluster.Stop].
//
// # One job per project
//
// Each project is one River job (kind [JobKind], args [ProjectArgs]),
// inserted by every replica that serves the project and unique by its
// args in every state but the final ones, so there is exactly one job per
// project in the queue, whoever inserted it. Running the job is holding
// the project: the replica that fetched it calls [Runner.Hold], which
// runs a pass of every sync of the project that is due, side by side,
// sharing the project's connections, and returns when the next one is
// due. The job then snoozes until then (river.JobSnooze, which does not
// count as an attempt), and whichever replica fetches it next holds the
// project next. The job never completes; a replica re-inserts its
// projects' jobs every lease, which is a no-op while the job exists and
// brings back one an operator cancelled or deleted.
//
// One job per project, not per sync, is the rate-limit rule: the syncs
// of a project share its connections (one Dynamics application user, one
// People API key), and the connectors pace their requests to the
// services' limits within one process. Holding the whole project on one
// replica at a time keeps that pacing whole: two replicas never spend one
// account's budget at once. A sync is therefore never run by two replicas
// at once either, which the state's lease (runtime/state) enforces
// independently: a replica that stalled past its lease can no longer
// commit.
//
// # Slices, and how a dead replica's projects come back
//
// River notices a dead worker only by time: its rescuer (run by the
// elected leader every 30 s) returns a job to the queue once it has been
// running longer than both RescueStuckJobsAfter and the worker's Timeout
// (River's Config docs; per-worker timeouts have counted for rescue since
// River 0.6.1). A pass may legitimately run for hours (a first load), so
// a job is never a whole long pass: Hold is asked to stop after half the
// lease ([Options.Lease], default 1 minute; the batches in flight are
// finished and committed, as on SIGTERM) and the job is snoozed for 0,
// to continue from the last committed batch at once, here or on another
// replica. Timeout and RescueStuckJobsAfter are the lease, so the half
// lease left is the time the batches in flight have to commit before
// River cancels the pass (which the engine survives as a crash).
//
// A replica killed mid-pass (SIGKILL, power loss) leaves its job
// running. It is rescued at most lease + 30 s (rescuer interval) after
// it was fetched, made available at most 5 s later (River's scheduler)
// and fetched by another replica within its poll interval (1 s); the
// dead replica's state leases expire at most a lease after its death.
// The projects are therefore running again within lease + 36 s of a
// kill, 96 s with the default lease: under 2 x the lease. When the dead
// replica was River's leader, a new leader is elected within about 16 s,
// inside the same bound.
//
// # Stopping
//
// [Cluster.Stop] (SIGTERM) asks every held project to stop after the
// batches in flight, snoozes their jobs for 0 so another replica takes
// them at once, and stops River (Client.Stop: no new fetches, wait for
// the jobs running). [Cluster.StopAndCancel] (a second signal) cancels
// the passes' contexts (Client.StopAndCancel).
package cluster
