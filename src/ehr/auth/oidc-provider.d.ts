/**
 * The part of oidc-provider 9's API that src/ehr/auth uses. The package ships no TypeScript types and
 * no `@types/oidc-provider` is installed, so this declares exactly what is called here (names and shapes
 * follow lib/provider.js and lib/models/*.js of oidc-provider 9.13).
 */
declare module 'oidc-provider' {
  import type { IncomingMessage, ServerResponse } from 'node:http';

  export type AnyObject = Record<string, unknown>;

  export interface KoaContextWithOIDC {
    method: string;
    path: string;
    querystring: string;
    status: number;
    body: unknown;
    type: string;
    accepts(...types: string[]): string | false;
    get(header: string): string;
    oidc: {
      route?: string;
      result?: AnyObject & { login?: AnyObject; consent?: { grantId?: string } };
      params?: Record<string, unknown>;
      client?: ClientInstance;
      entities: Record<string, unknown> & {
        AccessToken?: AccessTokenInstance;
        AuthorizationCode?: { scope?: string; grantId?: string };
        RefreshToken?: { scope?: string; grantId?: string };
        Grant?: GrantInstance;
      };
    };
  }

  export interface ClientInstance {
    clientId: string;
    clientAuthMethod: string;
    redirectUris: string[];
    clientName?: string;
  }

  export interface AccessTokenInstance {
    jti: string;
    clientId: string;
    accountId: string;
    grantId: string;
    scope?: string;
    aud?: string | string[];
    exp: number;
    isExpired: boolean;
  }

  export interface ClientCredentialsInstance {
    jti: string;
    clientId: string;
    scope?: string;
    aud?: string | string[];
    exp: number;
    isExpired: boolean;
  }

  export interface GrantInstance {
    jti: string;
    accountId: string;
    clientId: string;
    addOIDCScope(scope: string): void;
    addResourceScope(resource: string, scope: string): void;
    rejectResourceScope(resource: string, scope: string): void;
    getOIDCScope(): string;
    save(ttl?: number): Promise<string>;
    destroy(): Promise<void>;
  }

  export interface InteractionDetails {
    uid: string;
    prompt: { name: string; reasons: string[]; details: AnyObject };
    params: Record<string, string | undefined> & { client_id: string; scope?: string };
    session?: { accountId?: string };
    grantId?: string;
    lastSubmission?: AnyObject;
  }

  export interface Adapter {
    upsert(id: string, payload: AnyObject, expiresIn?: number): Promise<void>;
    find(id: string): Promise<AnyObject | undefined>;
    findByUserCode(userCode: string): Promise<AnyObject | undefined>;
    findByUid(uid: string): Promise<AnyObject | undefined>;
    consume(id: string): Promise<void>;
    destroy(id: string): Promise<void>;
    revokeByGrantId(grantId: string): Promise<void>;
  }

  export interface Account {
    accountId: string;
    claims(use: string, scope: string): Promise<AnyObject> | AnyObject;
  }

  // The configuration object is large and loosely typed on purpose: the source of truth is the
  // library's documentation (docs/README.md), and a wrong key is caught by the tests.
  export type Configuration = AnyObject;

  export class Provider {
    constructor(issuer: string, configuration?: Configuration);
    readonly issuer: string;
    proxy: boolean;
    callback(): (req: IncomingMessage, res: ServerResponse) => void;
    use(middleware: (ctx: KoaContextWithOIDC, next: () => Promise<void>) => Promise<void>): void;
    on(event: string, listener: (...args: unknown[]) => void): this;
    interactionDetails(req: IncomingMessage, res: ServerResponse): Promise<InteractionDetails>;
    interactionFinished(
      req: IncomingMessage,
      res: ServerResponse,
      result: AnyObject,
      options?: { mergeWithLastSubmission?: boolean },
    ): Promise<void>;
    AccessToken: { find(token: string): Promise<AccessTokenInstance | undefined> };
    ClientCredentials: { find(token: string): Promise<ClientCredentialsInstance | undefined> };
    Grant: {
      new (properties: { accountId: string; clientId: string }): GrantInstance;
      find(id: string): Promise<GrantInstance | undefined>;
    };
    Client: { find(id: string): Promise<ClientInstance | undefined> };
  }

  export class Check {
    constructor(reason: string, description: string, check: (ctx: KoaContextWithOIDC) => boolean | Promise<boolean>);
    static REQUEST_PROMPT: true;
    static NO_NEED_TO_PROMPT: false;
  }

  export interface Prompt {
    name: string;
    checks: Check[];
  }

  export const interactionPolicy: {
    Check: typeof Check;
    base(): Prompt[] & { get(name: string): Prompt | undefined };
  };

  export const errors: {
    InvalidRequest: new (description?: string) => Error;
    InvalidScope: new (description: string, scope?: string) => Error;
    InvalidTarget: new (description?: string) => Error;
    SessionNotFound: new (description?: string) => Error;
    AccessDenied: new (description?: string) => Error;
  };

  export default Provider;
}
