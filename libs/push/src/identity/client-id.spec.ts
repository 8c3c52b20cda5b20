import { createClientId, createNodeId, isClientId, isNodeId, nodeIdOf, CLIENT_ID_LENGTH } from './client-id';

describe('client-id', () => {
  it('embeds the node id and has 128 random bits after it', () => {
    const node = createNodeId();
    expect(isNodeId(node)).toBe(true);
    const id = createClientId(node);
    expect(id).toHaveLength(CLIENT_ID_LENGTH);
    expect(isClientId(id)).toBe(true);
    expect(nodeIdOf(id)).toBe(node);
  });

  it('never repeats over many draws', () => {
    const node = createNodeId();
    const seen = new Set<string>();
    for (let i = 0; i < 20000; i++) seen.add(createClientId(node));
    expect(seen.size).toBe(20000);
  });

  it.each([
    ['empty', ''],
    ['too short', 'abc'],
    ['upper case', 'A'.repeat(48)],
    ['non-hex', 'g'.repeat(48)],
    ['too long', 'a'.repeat(49)],
    ['not a string', 42],
    ['with a newline', 'a'.repeat(47) + '\n'],
  ])('rejects %s', (_label, value) => {
    expect(isClientId(value)).toBe(false);
  });
});
