"""Domain actors of the coordinator (they import runtime, protocol, storage, billing).

Scheduling:
- scheduler.py           SchedulerActor: reservations, release, wait queues, deadline timer
- scheduler_index.py     capacity view: per-model/trust candidate heaps and the cost model
- scheduler_queue.py     per-model FIFO wait queues and the deadline heap
- scheduler_messages.py  Trust, CapacityUpdate, Reserve/Reservation/NoCapacity, Release, config
"""
