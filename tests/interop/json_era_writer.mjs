// Makes OpenClaw write a multi-agent state directory through its own API: inbound
// metadata, routes and threads, subagent and cron keys, unicode labels, transcripts and
// a skills prompt long enough to be kept in a file of its own.
// Run by the harness as a module body: `data`, `store` and `emit` are given.
const transcripts = await import('openclaw/plugin-sdk/session-transcript-runtime');
const now = data.now;
const written = {};
for (const agent of data.agents) {
  const storePath = store.resolveStorePath(undefined, { agentId: agent.id });
  for (const [i, session] of agent.sessions.entries()) {
    const sessionKey = session.key;
    if (session.inbound) {
      await store.recordSessionMetaFromInbound({ storePath, sessionKey, ctx: session.inbound });
    }
    if (session.route) {
      await store.updateLastRoute({ storePath, sessionKey, ...session.route });
    }
    const normalizedKey = store.resolveSessionStoreEntry({ store: {}, sessionKey }).normalizedKey;
    await store.updateSessionStore(storePath, (s) => {
      s[normalizedKey] = {
        ...s[normalizedKey], sessionId: session.sessionId, updatedAt: now - i, ...session.fields,
      };
    });
    if (session.messages) {
      // OpenClaw's own choice of transcript file, recorded in the entry (absolute).
      await store.resolveAndPersistSessionFile({
        agentId: agent.id, sessionId: session.sessionId, sessionKey: normalizedKey,
        sessionStore: store.loadSessionStore(storePath, { skipCache: true }), storePath,
      });
    }
    for (const text of session.messages ?? []) {
      await transcripts.appendSessionTranscriptMessageByIdentity({
        agentId: agent.id, sessionKey, sessionId: session.sessionId,
        message: { role: 'user', content: [{ type: 'text', text }] },
      });
    }
  }
  written[agent.id] = storePath;
}
emit(written);
