/**
 * Types for the parts of the untyped npm package `smpp` 0.5.1 (lib/smpp.js, lib/pdu.js,
 * lib/defs.js) that Parley uses: the SMPP channel adapter and the SMPP emulator
 * (`@parley/emulators`, which references this file). Written from the package source;
 * anything not declared here is not used.
 *
 * PDU fields are dynamic (one property per SMPP parameter or TLV, named as in the SMPP
 * specification), so they read as `unknown` and are narrowed where they are used.
 */
declare module 'smpp' {
  import type { EventEmitter } from 'node:events';
  import type { Server as NetServer, Socket } from 'node:net';

  namespace smpp {
    /** A message body as the `message` filter accepts it: raw bytes, a string, or a string/bytes with a UDH. */
    type MessageValue = Buffer | string | { readonly message: Buffer | string; readonly udh?: Buffer };

    /** Parameters and TLVs of a PDU, by their SMPP names (`system_id`, `short_message`, `receipted_message_id` …). */
    interface PduOptions {
      command_status?: number;
      sequence_number?: number;
      system_id?: string;
      password?: string;
      system_type?: string;
      interface_version?: number;
      addr_ton?: number;
      addr_npi?: number;
      address_range?: string;
      service_type?: string;
      source_addr_ton?: number;
      source_addr_npi?: number;
      source_addr?: string;
      dest_addr_ton?: number;
      dest_addr_npi?: number;
      destination_addr?: string;
      esm_class?: number;
      protocol_id?: number;
      priority_flag?: number;
      schedule_delivery_time?: string;
      validity_period?: string;
      registered_delivery?: number;
      replace_if_present_flag?: number;
      /** `null` (the default) makes the library pick an encoding for string messages. */
      data_coding?: number | null;
      sm_default_msg_id?: number;
      short_message?: MessageValue;
      message_id?: string;
      /** TLV 0x0424 */
      message_payload?: MessageValue;
      /** TLV 0x001E */
      receipted_message_id?: string;
      /** TLV 0x0427 */
      message_state?: number;
      /** TLV 0x0423 (3 octets: network type, error code) */
      network_error_code?: Buffer;
    }

    class PDU {
      constructor(command: string, options?: PduOptions);
      /** Command name from the command id (`submit_sm`, `deliver_sm_resp` …); `unknown` for unknown ids. */
      command: string;
      command_id: number;
      command_length: number;
      command_status: number;
      sequence_number: number;
      isResponse(): boolean;
      /** The matching `<command>_resp` (or `generic_nack`) with this PDU's sequence number. */
      response(options?: PduOptions): PDU;
      toBuffer(): Buffer;
      /** Decoded parameters and TLVs; `short_message` / `message_payload` decode to `{ message, udh? }`. */
      readonly [field: string]: unknown;
    }

    type ResponseCallback = (pdu: PDU) => void;
    type Shortcut = (options: PduOptions, responseCallback?: ResponseCallback, sendCallback?: ResponseCallback) => boolean;

    class Session extends EventEmitter {
      /** The TCP connection (client sessions connect it themselves; server sessions get the accepted socket). */
      readonly socket: Socket;
      /** Set on sessions a `Server` created. */
      server?: Server;
      /** Sends a request (gets the next sequence number unless set) or a response. False if the socket is not writable. */
      send(pdu: PDU, responseCallback?: ResponseCallback, sendCallback?: ResponseCallback): boolean;
      close(callback?: () => void): void;
      destroy(callback?: () => void): void;
      pause(): void;
      resume(): void;
      bind_transceiver: Shortcut;
      submit_sm: Shortcut;
      deliver_sm: Shortcut;
      enquire_link: Shortcut;
      unbind: Shortcut;
      generic_nack: Shortcut;
    }

    class Server extends NetServer {
      readonly sessions: Session[];
    }

    interface ConnectOptions {
      host: string;
      port: number;
      /** Sends enquire_link every N ms (without checking the answer). */
      auto_enquire_link_period?: number;
    }

    function connect(options: ConnectOptions, listener?: () => void): Session;
    function createServer(listener: (session: Session) => void): Server;

    /** command_status values by name (`ESME_ROK`, `ESME_RTHROTTLED` …). */
    const errors: { readonly [name: string]: number };
    const consts: {
      readonly ESM_CLASS: { readonly [name: string]: number };
      readonly REGISTERED_DELIVERY: { readonly [name: string]: number };
      readonly MESSAGE_STATE: { readonly [name: string]: number };
      readonly TON: { readonly [name: string]: number };
      readonly NPI: { readonly [name: string]: number };
      readonly ENCODING: { readonly [name: string]: number };
    };
  }

  export = smpp;
}
