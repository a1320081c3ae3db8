"""Domain actors of the coordinator (they import runtime, protocol, storage, billing;
never http/ or the coordinator).

Providers:
- provider.py            ProviderActor: one per connected provider; slots, trust, streams
- provider_messages.py   frames in, commands (Dispatch, Cancel, Drain), stream items out
- provider_inflight.py   in-flight request entries, their deadlines, and how each ends
- provider_session.py    ProviderSession (outlives an actor instance), SpeedModel (EWMAs),
                         UpstreamView (the agent's reported upstream health)
- provider_registration.py  ProviderRegistrar: register frame, attestation, key proof before
                         replacing a live id, actor start and stop, revocation re-check
- challenges.py          ChallengeSchedule: nonces, deadlines, misses, late/unsolicited (pure)
- liveness.py            HeartbeatWatch: silent too long, the coordinator's own lateness excused
- attestation.py         AttestationVerifier registry: evidence kind → trust level
- provider_control.py    drain / disconnect a live provider, disconnect a token's holders
                         (admin API and owners' self-service)

Scheduling:
- scheduler.py           SchedulerActor: reservations, release, wait queues, deadline timer
- scheduler_index.py     capacity view: per-model/trust candidate heaps, known models, eligibility
- scheduler_slots.py     its records (provider, model slot, model index) and the cost function
- scheduler_queue.py     per-model FIFO wait queues and the deadline heap
- scheduler_messages.py  CapacityUpdate, Reserve/Reservation/NoCapacity, Release, config
- scheduler_remote.py    cluster: remote providers in the indexes, ReserveOn confirmations,
                         the local capacity snapshot other replicas mirror

Money:
- billing.py             BillingActor: holds, settlement with its usage row; start-up recovery
- billing_messages.py    Hold/HoldGranted, Settle, InsufficientCredit, BillingIdle, PriceChanged

Administration:
- local_admin.py         this process's providers and supervisor totals, an administrator's
                         disconnect (the admin routes and cluster calls use it)
"""
