/**
 * Whether the text may define anchors. js-yaml makes an alias share its
 * anchor's object, so only documents with anchors can be bigger as a graph
 * walk than as text. The test is a cheap regex (an `&` that starts a token);
 * a false positive only costs one bounded walk.
 */
export function mayHaveAnchors(text: string): boolean {
  return /(?:^|[\s[{,])&[^\s[\]{},]/m.test(text);
}

/**
 * Counts the nodes a full walk of `value` visits, shared objects once per
 * reference, stopping as soon as `budget` is passed. Iterative: the value
 * may be deep.
 */
export function expandedNodeCount(value: unknown, budget: number): number {
  let count = 0;
  const stack: unknown[] = [value];
  while (stack.length > 0) {
    const node = stack.pop();
    count++;
    if (count > budget) return count;
    if (Array.isArray(node)) {
      for (const item of node) stack.push(item);
    } else if (typeof node === 'object' && node !== null) {
      for (const key in node) stack.push((node as Record<string, unknown>)[key]);
    }
  }
  return count;
}
