// Batching and the retry queue. Neither touches the DOM: the storage and
// the sender are handed in, so node's test runner drives them directly.

export const MAX = 10;          // events per request (the edge takes 1-100)

// Events wait in memory until MAX of them are queued or flush() is called
// (the tracker calls it every 5 s and when the page is hidden).
export const batcher = (send) => {
    const q = [];
    const flush = (hide) => {
        while (q.length) send(q.splice(0, MAX), hide);
    };
    return {
        push(ev) {
            q.push(ev);
            if (q.length >= MAX) flush();
        },
        flush,
    };
};

// Events that could not be delivered (offline, network error, 5xx) wait in
// localStorage and are sent again later, by this page or the next one.
// Bounded: the newest `max` events are kept. take() empties it, so two tabs
// replaying at once do not send the same events twice.
export const retryQueue = (get, set, max = 200) => ({
    add: (events) => set([].concat(get() || [], events).slice(-max)),
    take() {
        const a = [].concat(get() || []);
        if (a.length) set([]);
        return a;
    },
});
