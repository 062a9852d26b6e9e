import {
  GraphQLError,
  Kind,
  Lexer,
  Source,
  TokenKind,
  type ArgumentNode,
  type DocumentNode,
  type FragmentDefinitionNode,
  type OperationDefinitionNode,
  type SelectionSetNode,
  type ValueNode,
} from 'graphql';

/**
 * GitLab's limits on a GraphQL query (`GraphqlController::MAX_QUERY_SIZE`, `GitlabSchema`'s max depth
 * and complexity), and gatehouse's own bounds on selection width and list arguments. Every check here
 * costs time linear in the size of the query document: fragments are measured once each, however
 * often they are spread, and nothing recurses deeper than the nesting `scanNesting` lets through.
 */

/** `GraphqlController::MAX_QUERY_SIZE`: longer query texts are refused before they are parsed. */
export const MAX_QUERY_SIZE = 10_000;
/** GitLab's answer past MAX_QUERY_SIZE (a `Gitlab::Graphql::Errors::ArgumentError`: 422). */
export const QUERY_TOO_LARGE = 'Query too large';
/** `GitlabSchema::AUTHENTICATED_MAX_DEPTH` (anonymous callers, which gatehouse never serves, get 15). */
export const AUTHENTICATED_MAX_DEPTH = 20;
/** `GitlabSchema::AUTHENTICATED_MAX_COMPLEXITY` and `ADMIN_MAX_COMPLEXITY`. */
export const AUTHENTICATED_MAX_COMPLEXITY = 250;
export const ADMIN_MAX_COMPLEXITY = 300;
/** The most fields one selection set may hold (aliases make each a separate resolver call). */
export const MAX_SELECTIONS = 100;
/** The most items a list argument may hold, GitLab's largest page. */
export const MAX_LIST_ITEMS = 100;
/**
 * The deepest bracket nesting handed to graphql-js, whose parser recurses once per level and
 * overflows the stack near 2 000 levels. Anything this deep is far past the depth limit anyway.
 */
export const MAX_NESTING = 100;

// graphql-ruby's analyzer messages, word for word.
export const depthExceeded = (depth: number, max: number) => `Query has depth of ${depth}, which exceeds max depth of ${max}`;
export const complexityExceeded = (complexity: number, max: number) => `Query has complexity of ${complexity}, which exceeds max complexity of ${max}`;
// graphql-ruby's length validator message, as GitLab's list arguments answer it.
export const listTooLong = (argument: string, max: number) => `${argument} is too long (maximum is ${max})`;
export const tooManySelections = (count: number, max: number) => `Query has ${count} fields in one selection, which exceeds max fields per selection of ${max}`;
export const valuesTooDeep = (nesting: number, max: number) => `Query nests values ${nesting} deep, which exceeds max nesting of ${max}`;

/** Whether a query text is over MAX_QUERY_SIZE characters (code points, as Ruby counts them). */
export function tooLarge(query: string): boolean {
  // Never fewer UTF-16 units than code points: only a long text needs counting.
  if (query.length <= MAX_QUERY_SIZE) return false;
  let characters = 0;
  for (const _ of query) if (++characters > MAX_QUERY_SIZE) return true;
  return false;
}

/** The depth and complexity a query is allowed. */
export interface QueryLimits {
  maxDepth: number;
  maxComplexity: number;
}

/** What graphql-ruby's depth analyzer leaves out: introspection fields and everything under them. */
const INTROSPECTION_FIELDS = new Set(['__typename', '__schema', '__type']);

/**
 * Refuses, before parsing, a document nested deeper than MAX_NESTING. The lexer reads tokens one at a
 * time without recursion. A brace outside parentheses opens a selection set, whose nesting is the
 * depth graphql-ruby would report when no inline fragment is among the levels; braces and brackets
 * inside parentheses are argument values. A lexical error is answered as the parser would answer it.
 */
export function scanNesting(query: string, maxDepth: number): GraphQLError | undefined {
  const lexer = new Lexer(new Source(query));
  // One entry per open bracket: whether it opened a selection set.
  const open: boolean[] = [];
  let parentheses = 0;
  let selections = 0;
  let deepest = 0;
  let deepestSelections = 0;
  let deepestValues = 0;
  try {
    for (let token = lexer.advance(); token.kind !== TokenKind.EOF; token = lexer.advance()) {
      switch (token.kind) {
        case TokenKind.PAREN_L:
          parentheses++;
          open.push(false);
          break;
        case TokenKind.BRACE_L:
        case TokenKind.BRACKET_L: {
          const selection = token.kind === TokenKind.BRACE_L && parentheses === 0;
          if (selection) selections++;
          open.push(selection);
          break;
        }
        case TokenKind.PAREN_R:
        case TokenKind.BRACE_R:
        case TokenKind.BRACKET_R:
          // Unbalanced closers are the parser's to report; here they only stop counting down past zero.
          if (open.length && open.pop()) selections--;
          if (token.kind === TokenKind.PAREN_R && parentheses > 0) parentheses--;
          break;
      }
      deepest = Math.max(deepest, open.length);
      deepestSelections = Math.max(deepestSelections, selections);
      deepestValues = Math.max(deepestValues, open.length - selections - parentheses);
    }
  } catch (error) {
    if (error instanceof GraphQLError) return error;
    throw error;
  }
  if (deepest <= MAX_NESTING) return undefined;
  return new GraphQLError(deepestSelections > maxDepth ? depthExceeded(deepestSelections, maxDepth) : valuesTooDeep(deepestValues, MAX_NESTING));
}

interface Measure {
  depth: number;
  complexity: number;
}
const NOTHING: Measure = { depth: 0, complexity: 0 };

/**
 * The limits of one request over its parsed document, in GitLab's order (depth, then complexity)
 * after gatehouse's own (selection width, list arguments). Runs before graphql-js validation, whose
 * rules are quadratic in the width of a selection, so a document that passes costs it little.
 */
export function checkLimits(
  document: DocumentNode,
  variables: Record<string, unknown> | undefined,
  operationName: string | undefined,
  limits: QueryLimits,
): GraphQLError[] {
  const errors = [...widthErrors(document), ...listErrors(document, variables ?? {})];
  const { selected, others } = measureDocument(document, selectedOperation(document, operationName));
  // The operation that would run is GitLab's measure. The other operations and every fragment are held
  // to the same limits, because validation walks them too.
  const over = (measure: (m: Measure) => number, max: number) => {
    const own = selected ? measure(selected) : 0;
    return own > max ? own : Math.max(own, ...others.map(measure));
  };
  const depth = over((m) => m.depth, limits.maxDepth);
  const complexity = over((m) => m.complexity, limits.maxComplexity);
  if (depth > limits.maxDepth) errors.push(new GraphQLError(depthExceeded(depth, limits.maxDepth)));
  if (complexity > limits.maxComplexity) errors.push(new GraphQLError(complexityExceeded(complexity, limits.maxComplexity)));
  return errors;
}

/** The operation graphql-js will run: the named one, or the only one. */
export function selectedOperation(document: DocumentNode, operationName: string | undefined): OperationDefinitionNode | undefined {
  const operations = document.definitions.filter((definition): definition is OperationDefinitionNode => definition.kind === Kind.OPERATION_DEFINITION);
  return operationName === undefined ? (operations.length === 1 ? operations[0] : undefined) : operations.find((operation) => operation.name?.value === operationName);
}

/** Every selection set in the document, visited without recursion. */
function* selectionSets(document: DocumentNode): Generator<SelectionSetNode> {
  const pending: SelectionSetNode[] = [];
  for (const definition of document.definitions) {
    if (definition.kind === Kind.OPERATION_DEFINITION || definition.kind === Kind.FRAGMENT_DEFINITION) pending.push(definition.selectionSet);
  }
  for (let set = pending.pop(); set; set = pending.pop()) {
    yield set;
    for (const selection of set.selections) if (selection.kind !== Kind.FRAGMENT_SPREAD && selection.selectionSet) pending.push(selection.selectionSet);
  }
}

function widthErrors(document: DocumentNode): GraphQLError[] {
  let widest: SelectionSetNode | undefined;
  for (const set of selectionSets(document)) if (set.selections.length > (widest?.selections.length ?? MAX_SELECTIONS)) widest = set;
  return widest ? [new GraphQLError(tooManySelections(widest.selections.length, MAX_SELECTIONS), { nodes: widest })] : [];
}

/** List arguments over MAX_LIST_ITEMS, written in the document or passed as variables. */
function listErrors(document: DocumentNode, variables: Record<string, unknown>): GraphQLError[] {
  const errors: GraphQLError[] = [];
  const tooLong = (argument: ArgumentNode) => {
    const values: ValueNode[] = [argument.value];
    for (let value = values.pop(); value; value = values.pop()) {
      if (value.kind === Kind.VARIABLE) {
        const given = variables[value.name.value];
        if (Array.isArray(given) && given.length > MAX_LIST_ITEMS) return true;
      } else if (value.kind === Kind.LIST) {
        if (value.values.length > MAX_LIST_ITEMS) return true;
        values.push(...value.values);
      } else if (value.kind === Kind.OBJECT) {
        values.push(...value.fields.map((field) => field.value));
      }
    }
    return false;
  };
  for (const set of selectionSets(document)) {
    for (const selection of set.selections) {
      const argumentLists = [selection.kind === Kind.FIELD ? selection.arguments : undefined, ...(selection.directives ?? []).map((directive) => directive.arguments)];
      for (const argument of argumentLists.flatMap((list) => list ?? [])) {
        if (tooLong(argument)) errors.push(new GraphQLError(listTooLong(argument.name.value, MAX_LIST_ITEMS), { nodes: argument }));
      }
    }
  }
  return errors;
}

/**
 * graphql-ruby's depth (fields from the root, introspection left out) and complexity (every field 1,
 * summed over the expanded query) of the selected operation, and of every other operation and
 * fragment. Fragments are measured once, dependencies first, so a fragment spread twice by each of
 * twenty others costs twenty measurements, not a million; a spread that closes a cycle (reported by
 * validation) or names no fragment counts as nothing.
 */
function measureDocument(document: DocumentNode, selected: OperationDefinitionNode | undefined): { selected?: Measure; others: Measure[] } {
  const fragments = new Map(
    document.definitions.filter((definition): definition is FragmentDefinitionNode => definition.kind === Kind.FRAGMENT_DEFINITION).map((f) => [f.name.value, f]),
  );
  const measured = new Map<string, Measure>();
  const measureFragment = (name: string) => measured.get(name) ?? NOTHING;
  for (const name of dependencyOrder(fragments)) measured.set(name, measureSet(fragments.get(name)!.selectionSet, measureFragment));

  const others = [...measured.values()];
  let own: Measure | undefined;
  for (const definition of document.definitions) {
    if (definition.kind !== Kind.OPERATION_DEFINITION) continue;
    const measure = measureSet(definition.selectionSet, measureFragment);
    if (definition === selected) own = measure;
    else others.push(measure);
  }
  return { selected: own, others };
}

/** Fragment names, each after the fragments it spreads (cycles cut where they close), without recursion. */
function dependencyOrder(fragments: ReadonlyMap<string, FragmentDefinitionNode>): string[] {
  const order: string[] = [];
  const state = new Map<string, 'open' | 'done'>();
  for (const start of fragments.keys()) {
    if (state.has(start)) continue;
    const stack: Array<{ name: string; spreads: string[] }> = [{ name: start, spreads: spreadsOf(fragments.get(start)!) }];
    state.set(start, 'open');
    while (stack.length) {
      const top = stack[stack.length - 1];
      const next = top.spreads.pop();
      if (next === undefined) {
        stack.pop();
        state.set(top.name, 'done');
        order.push(top.name);
      } else if (!state.has(next) && fragments.has(next)) {
        state.set(next, 'open');
        stack.push({ name: next, spreads: spreadsOf(fragments.get(next)!) });
      }
    }
  }
  return order;
}

function spreadsOf(fragment: FragmentDefinitionNode): string[] {
  const names = new Set<string>();
  const pending: SelectionSetNode[] = [fragment.selectionSet];
  for (let set = pending.pop(); set; set = pending.pop()) {
    for (const selection of set.selections) {
      if (selection.kind === Kind.FRAGMENT_SPREAD) names.add(selection.name.value);
      else if (selection.selectionSet) pending.push(selection.selectionSet);
    }
  }
  return [...names];
}

/** Recurses once per nesting level, which scanNesting bounds. */
function measureSet(set: SelectionSetNode, fragment: (name: string) => Measure): Measure {
  let depth = 0;
  let complexity = 0;
  for (const selection of set.selections) {
    let inner: Measure;
    if (selection.kind === Kind.FIELD) {
      const child = selection.selectionSet ? measureSet(selection.selectionSet, fragment) : NOTHING;
      inner = { depth: INTROSPECTION_FIELDS.has(selection.name.value) ? 0 : 1 + child.depth, complexity: 1 + child.complexity };
    } else if (selection.kind === Kind.INLINE_FRAGMENT) {
      inner = measureSet(selection.selectionSet, fragment);
    } else {
      inner = fragment(selection.name.value);
    }
    depth = Math.max(depth, inner.depth);
    // Past MAX_SAFE_INTEGER a sum is no longer exact; the query is refused all the same.
    complexity = Math.min(complexity + inner.complexity, Number.MAX_SAFE_INTEGER);
  }
  return { depth, complexity };
}
