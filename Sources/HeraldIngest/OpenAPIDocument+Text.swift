// The API's OpenAPI 3.1 description, kept as YAML text so it reads (and diffs)
// as the document it is. `OpenAPIDocumentTests` checks it against the router and
// `scripts/check-api` runs schemathesis with it against a live ingestor.

extension OpenAPIDocument {
    /// The document as written; `HERALD_VERSION` stands for `HeraldVersion.current`.
    static let text = ##"""
        openapi: 3.1.0
        info:
          title: Herald API
          version: "HERALD_VERSION"
          summary: Events in; contacts, lists, segments, imports, campaigns, broadcasts and sales alerts managed.
          description: |
            The HTTP API of `herald-ingestor`. Every route is here; a test compares this
            document with the ingestor's router and runs schemathesis against it.

            **Keys.** Send `Authorization: Bearer <key>`. An ingest key (`api.keys`) may
            only post events; a read key (`api.read_keys`) reads the address book; an
            admin key (`api.admin_keys`) may do everything. Without a known key the answer
            is 401, with a key of too small a scope 403. The tracking, unsubscribe and
            provider status routes take no key: a signed token or the provider's
            signature authorizes them.

            **Errors.** Every 4xx and 5xx answer is RFC 9457 problem details
            (`application/problem+json`): `type` (`about:blank`), `title` (the status's
            phrase), `status`, `detail` (what is wrong, in words), and `field` when one
            input is at fault. Some routes add members (a validation's `line`, a batch's
            per-event `results`).

            **Lists** page by cursor: `limit` (1 to 1000, default 100) and `cursor`, the
            `next_cursor` of the page before, as given; `next_cursor` is null on the last
            page. A page neither skips nor repeats an item that stays while others are
            added or removed.
        servers:
          - url: /
        security:
          - apiKey: []
        tags:
          - name: events
          - name: contacts
          - name: imports
          - name: lists
          - name: segments
          - name: campaigns
          - name: broadcasts
          - name: alerts
          - name: messages
          - name: providers
          - name: meta
        paths:
          /v1/openapi.json:
            get:
              tags: [meta]
              operationId: openapiJSON
              summary: This document as JSON.
              security: []
              responses:
                "200":
                  description: The OpenAPI 3.1 document.
                  content:
                    application/json:
                      schema: {type: object}
          /v1/openapi.yaml:
            get:
              tags: [meta]
              operationId: openapiYAML
              summary: This document as YAML.
              security: []
              responses:
                "200":
                  description: The OpenAPI 3.1 document.
                  content:
                    application/yaml:
                      schema: {type: object}
          /v1/events:
            post:
              tags: [events]
              operationId: postEvents
              summary: Accept one event, or a batch of events.
              description: |
                An event, or `{"events": [...]}` (at most `api.max_batch_events`). Each is
                validated, deduplicated by `id` and put on `herald.events` keyed by contact.
                202 when every event is accepted or a duplicate; otherwise a problem with
                `results` per event (400 when one is rejected, 413 for an event too large
                to produce, 503 with Retry-After when the dedupe store is down).
              requestBody:
                required: true
                content:
                  application/json:
                    schema:
                      oneOf:
                        - $ref: "#/components/schemas/Event"
                        - type: object
                          required: [events]
                          additionalProperties: false
                          properties:
                            events:
                              type: array
                              minItems: 1
                              items: {$ref: "#/components/schemas/Event"}
              responses:
                "202":
                  description: Every event accepted or already seen.
                  content:
                    application/json:
                      schema: {$ref: "#/components/schemas/IntakeSummary"}
                "400": {$ref: "#/components/responses/BadRequest"}
                "401": {$ref: "#/components/responses/Unauthorized"}
                "403": {$ref: "#/components/responses/Forbidden"}
                "413": {$ref: "#/components/responses/TooLarge"}
                "415": {$ref: "#/components/responses/UnsupportedMediaType"}
                "503": {$ref: "#/components/responses/Unavailable"}
          /v1/contacts:
            get:
              tags: [contacts]
              operationId: listContacts
              summary: Page through the address book, or count a selection.
              description: Contacts that match every filter given, a page at a time; with `count=true`, how many match.
              parameters:
                - {$ref: "#/components/parameters/ListFilter"}
                - {$ref: "#/components/parameters/TagFilter"}
                - {$ref: "#/components/parameters/WhereFilter"}
                - {$ref: "#/components/parameters/SegmentFilter"}
                - name: count
                  in: query
                  description: "`true` for `{count}` instead of a page."
                  schema: {type: string, enum: ["true"]}
                - {$ref: "#/components/parameters/Limit"}
                - {$ref: "#/components/parameters/Cursor"}
              responses:
                "200":
                  description: A page of profiles (`contacts`, `next_cursor`, `scanned`), or `{count}`.
                  content:
                    application/json:
                      schema:
                        oneOf:
                          - $ref: "#/components/schemas/ContactPage"
                          - $ref: "#/components/schemas/Count"
                "400": {$ref: "#/components/responses/BadRequest"}
                "401": {$ref: "#/components/responses/Unauthorized"}
                "403": {$ref: "#/components/responses/Forbidden"}
                "503": {$ref: "#/components/responses/Unavailable"}
          /v1/contacts.csv:
            get:
              tags: [contacts]
              operationId: exportContacts
              summary: Export a selection as CSV, streamed (admin).
              parameters:
                - {$ref: "#/components/parameters/ListFilter"}
                - {$ref: "#/components/parameters/TagFilter"}
                - {$ref: "#/components/parameters/WhereFilter"}
                - {$ref: "#/components/parameters/SegmentFilter"}
                - name: attributes
                  in: query
                  description: Comma-separated attribute columns; absent, those of the first contacts.
                  schema: {type: string}
              responses:
                "200":
                  description: The CSV.
                  content:
                    text/csv:
                      schema: {type: string}
                "400": {$ref: "#/components/responses/BadRequest"}
                "401": {$ref: "#/components/responses/Unauthorized"}
                "403": {$ref: "#/components/responses/Forbidden"}
                "503": {$ref: "#/components/responses/Unavailable"}
          /v1/contacts/{id}:
            parameters:
              - {$ref: "#/components/parameters/ContactId"}
            get:
              tags: [contacts]
              operationId: getContact
              summary: A contact's profile.
              responses:
                "200":
                  description: The profile.
                  content:
                    application/json:
                      schema: {$ref: "#/components/schemas/Profile"}
                "400": {$ref: "#/components/responses/BadRequest"}
                "401": {$ref: "#/components/responses/Unauthorized"}
                "403": {$ref: "#/components/responses/Forbidden"}
                "404": {$ref: "#/components/responses/NotFound"}
                "503": {$ref: "#/components/responses/Unavailable"}
            put:
              tags: [contacts]
              operationId: putContact
              summary: Replace a contact's fields (admin); list and tag changes are events.
              requestBody:
                required: true
                content:
                  application/json:
                    schema: {$ref: "#/components/schemas/ContactInput"}
              responses:
                "200":
                  description: The profile after the change.
                  content:
                    application/json:
                      schema: {$ref: "#/components/schemas/Profile"}
                "400": {$ref: "#/components/responses/BadRequest"}
                "401": {$ref: "#/components/responses/Unauthorized"}
                "403": {$ref: "#/components/responses/Forbidden"}
                "413": {$ref: "#/components/responses/TooLarge"}
                "415": {$ref: "#/components/responses/UnsupportedMediaType"}
                "422": {$ref: "#/components/responses/Unprocessable"}
                "503": {$ref: "#/components/responses/Unavailable"}
            patch:
              tags: [contacts]
              operationId: patchContact
              summary: Merge into a contact's fields (admin); list and tag changes are events.
              requestBody:
                required: true
                content:
                  application/json:
                    schema: {$ref: "#/components/schemas/ContactInput"}
              responses:
                "200":
                  description: The profile after the change.
                  content:
                    application/json:
                      schema: {$ref: "#/components/schemas/Profile"}
                "400": {$ref: "#/components/responses/BadRequest"}
                "401": {$ref: "#/components/responses/Unauthorized"}
                "403": {$ref: "#/components/responses/Forbidden"}
                "413": {$ref: "#/components/responses/TooLarge"}
                "415": {$ref: "#/components/responses/UnsupportedMediaType"}
                "422": {$ref: "#/components/responses/Unprocessable"}
                "503": {$ref: "#/components/responses/Unavailable"}
            delete:
              tags: [contacts]
              operationId: deleteContact
              summary: Erase a contact everywhere Herald keeps it (admin).
              responses:
                "204": {description: Erased.}
                "400": {$ref: "#/components/responses/BadRequest"}
                "401": {$ref: "#/components/responses/Unauthorized"}
                "403": {$ref: "#/components/responses/Forbidden"}
                "404": {$ref: "#/components/responses/NotFound"}
                "503": {$ref: "#/components/responses/Unavailable"}
          /v1/contacts/{id}/journeys:
            get:
              tags: [contacts]
              operationId: listContactJourneys
              summary: The contact's journeys, oldest first.
              parameters:
                - {$ref: "#/components/parameters/ContactId"}
                - {$ref: "#/components/parameters/Limit"}
                - {$ref: "#/components/parameters/Cursor"}
              responses:
                "200":
                  description: A page of journeys.
                  content:
                    application/json:
                      schema: {$ref: "#/components/schemas/JourneyPage"}
                "400": {$ref: "#/components/responses/BadRequest"}
                "401": {$ref: "#/components/responses/Unauthorized"}
                "403": {$ref: "#/components/responses/Forbidden"}
                "503": {$ref: "#/components/responses/Unavailable"}
          /v1/contacts/{id}/messages:
            get:
              tags: [messages]
              operationId: listContactMessages
              summary: The contact's messages, newest first.
              parameters:
                - {$ref: "#/components/parameters/ContactId"}
                - {$ref: "#/components/parameters/Limit"}
                - {$ref: "#/components/parameters/Cursor"}
              responses:
                "200":
                  description: A page of messages.
                  content:
                    application/json:
                      schema: {$ref: "#/components/schemas/MessagePage"}
                "400": {$ref: "#/components/responses/BadRequest"}
                "401": {$ref: "#/components/responses/Unauthorized"}
                "403": {$ref: "#/components/responses/Forbidden"}
                "503": {$ref: "#/components/responses/Unavailable"}
          /v1/contacts/{id}/messages/{message}:
            get:
              tags: [messages]
              operationId: getContactMessage
              summary: One message and its state.
              parameters:
                - {$ref: "#/components/parameters/ContactId"}
                - name: message
                  in: path
                  required: true
                  schema: {type: string, minLength: 1}
              responses:
                "200":
                  description: The message.
                  content:
                    application/json:
                      schema: {$ref: "#/components/schemas/Message"}
                "400": {$ref: "#/components/responses/BadRequest"}
                "401": {$ref: "#/components/responses/Unauthorized"}
                "403": {$ref: "#/components/responses/Forbidden"}
                "404": {$ref: "#/components/responses/NotFound"}
                "503": {$ref: "#/components/responses/Unavailable"}
          /v1/imports:
            post:
              tags: [imports]
              operationId: startImport
              summary: Import a CSV (the body) into the address book (admin).
              description: |
                202 with the job while it runs; 200 with the job if `id` names a finished
                one; `dry_run=true` answers a preview and changes nothing.
              parameters:
                - name: map
                  in: query
                  description: "`Column=field,…` (id, email, phone, timezone, language, owner, tags, lists, attributes.NAME)."
                  schema: {type: string}
                - {name: list, in: query, description: A list every imported contact joins (repeatable)., schema: {type: string}}
                - {name: mode, in: query, schema: {type: string, enum: [create_or_update, only_new, only_existing]}}
                - {name: match, in: query, schema: {type: string, enum: [id, email, phone]}}
                - {name: country, in: query, description: Default calling code for phones without one (`+420`)., schema: {type: string}}
                - {name: encoding, in: query, schema: {type: string, enum: [utf-8, utf-16, windows-1250]}}
                - {name: delimiter, in: query, description: "`,` `;` or `tab`; detected when absent.", schema: {type: string, enum: [",", ";", tab]}}
                - {name: id, in: query, description: The job's id (a retry with the same id resumes it)., schema: {type: string}}
                - {name: dry_run, in: query, description: "`true` for a preview; anything else imports.", schema: {type: string}}
              requestBody:
                required: true
                content:
                  text/csv:
                    schema: {type: string, format: binary, description: "CSV bytes: UTF-8 (with or without BOM) or Windows-1250."}
              responses:
                "200":
                  description: A finished job with this id, or a dry run's preview.
                  content:
                    application/json:
                      schema: {$ref: "#/components/schemas/Object"}
                "202":
                  description: The job, running.
                  content:
                    application/json:
                      schema: {$ref: "#/components/schemas/ImportJob"}
                "400": {$ref: "#/components/responses/BadRequest"}
                "401": {$ref: "#/components/responses/Unauthorized"}
                "403": {$ref: "#/components/responses/Forbidden"}
                "409": {$ref: "#/components/responses/Conflict"}
                "413": {$ref: "#/components/responses/TooLarge"}
                "422": {$ref: "#/components/responses/Unprocessable"}
                "503": {$ref: "#/components/responses/Unavailable"}
                "507": {$ref: "#/components/responses/SpoolFull"}
          /v1/imports/template.csv:
            get:
              tags: [imports]
              operationId: importTemplate
              summary: A blank CSV with the address book's columns.
              responses:
                "200":
                  description: The header row.
                  content:
                    text/csv:
                      schema: {type: string}
                "401": {$ref: "#/components/responses/Unauthorized"}
                "403": {$ref: "#/components/responses/Forbidden"}
                "503": {$ref: "#/components/responses/Unavailable"}
          /v1/imports/{id}:
            get:
              tags: [imports]
              operationId: getImport
              summary: An import job's progress.
              parameters:
                - {$ref: "#/components/parameters/ImportId"}
              responses:
                "200":
                  description: The job.
                  content:
                    application/json:
                      schema: {$ref: "#/components/schemas/ImportJob"}
                "400": {$ref: "#/components/responses/BadRequest"}
                "401": {$ref: "#/components/responses/Unauthorized"}
                "403": {$ref: "#/components/responses/Forbidden"}
                "404": {$ref: "#/components/responses/NotFound"}
                "503": {$ref: "#/components/responses/Unavailable"}
          /v1/imports/{id}/errors.csv:
            get:
              tags: [imports]
              operationId: getImportErrors
              summary: The rejected rows (`line,column,reason`).
              parameters:
                - {$ref: "#/components/parameters/ImportId"}
              responses:
                "200":
                  description: The error report.
                  content:
                    text/csv:
                      schema: {type: string}
                "400": {$ref: "#/components/responses/BadRequest"}
                "401": {$ref: "#/components/responses/Unauthorized"}
                "403": {$ref: "#/components/responses/Forbidden"}
                "404": {$ref: "#/components/responses/NotFound"}
                "503": {$ref: "#/components/responses/Unavailable"}
          /v1/lists:
            get:
              tags: [lists]
              operationId: listLists
              summary: The registered lists with member counts, by id.
              parameters:
                - {$ref: "#/components/parameters/Limit"}
                - {$ref: "#/components/parameters/Cursor"}
              responses:
                "200":
                  description: A page of lists.
                  content:
                    application/json:
                      schema:
                        type: object
                        required: [lists, next_cursor]
                        properties:
                          lists: {type: array, items: {$ref: "#/components/schemas/List"}}
                          next_cursor: {$ref: "#/components/schemas/NextCursor"}
                "400": {$ref: "#/components/responses/BadRequest"}
                "401": {$ref: "#/components/responses/Unauthorized"}
                "403": {$ref: "#/components/responses/Forbidden"}
                "503": {$ref: "#/components/responses/Unavailable"}
            post:
              tags: [lists]
              operationId: createList
              summary: Register a list (admin).
              requestBody:
                required: true
                content:
                  application/json:
                    schema:
                      type: object
                      required: [id]
                      additionalProperties: false
                      properties:
                        id: {type: string, minLength: 1, maxLength: 256}
                        name: {type: string, minLength: 1, maxLength: 256}
              responses:
                "201":
                  description: The list.
                  content:
                    application/json:
                      schema: {$ref: "#/components/schemas/List"}
                "400": {$ref: "#/components/responses/BadRequest"}
                "401": {$ref: "#/components/responses/Unauthorized"}
                "403": {$ref: "#/components/responses/Forbidden"}
                "409": {$ref: "#/components/responses/Conflict"}
                "413": {$ref: "#/components/responses/TooLarge"}
                "415": {$ref: "#/components/responses/UnsupportedMediaType"}
                "503": {$ref: "#/components/responses/Unavailable"}
          /v1/lists/{id}:
            parameters:
              - {$ref: "#/components/parameters/Id"}
            get:
              tags: [lists]
              operationId: getList
              summary: One list.
              responses:
                "200":
                  description: The list.
                  content:
                    application/json:
                      schema: {$ref: "#/components/schemas/List"}
                "400": {$ref: "#/components/responses/BadRequest"}
                "401": {$ref: "#/components/responses/Unauthorized"}
                "403": {$ref: "#/components/responses/Forbidden"}
                "404": {$ref: "#/components/responses/NotFound"}
                "503": {$ref: "#/components/responses/Unavailable"}
            patch:
              tags: [lists]
              operationId: renameList
              summary: Rename a list (admin).
              requestBody:
                required: true
                content:
                  application/json:
                    schema:
                      type: object
                      required: [name]
                      additionalProperties: false
                      properties:
                        name: {type: string, minLength: 1, maxLength: 256}
              responses:
                "200":
                  description: The list.
                  content:
                    application/json:
                      schema: {$ref: "#/components/schemas/List"}
                "400": {$ref: "#/components/responses/BadRequest"}
                "401": {$ref: "#/components/responses/Unauthorized"}
                "403": {$ref: "#/components/responses/Forbidden"}
                "404": {$ref: "#/components/responses/NotFound"}
                "413": {$ref: "#/components/responses/TooLarge"}
                "415": {$ref: "#/components/responses/UnsupportedMediaType"}
                "503": {$ref: "#/components/responses/Unavailable"}
            delete:
              tags: [lists]
              operationId: deleteList
              summary: Unregister a list and take every member off it (admin).
              responses:
                "200":
                  description: How many memberships were removed.
                  content:
                    application/json:
                      schema: {$ref: "#/components/schemas/Object"}
                "400": {$ref: "#/components/responses/BadRequest"}
                "401": {$ref: "#/components/responses/Unauthorized"}
                "403": {$ref: "#/components/responses/Forbidden"}
                "404": {$ref: "#/components/responses/NotFound"}
                "503": {$ref: "#/components/responses/Unavailable"}
          /v1/segments:
            get:
              tags: [segments]
              operationId: listSegments
              summary: The saved segments, by id.
              parameters:
                - {$ref: "#/components/parameters/Limit"}
                - {$ref: "#/components/parameters/Cursor"}
              responses:
                "200":
                  description: A page of segments.
                  content:
                    application/json:
                      schema:
                        type: object
                        required: [segments, next_cursor]
                        properties:
                          segments: {type: array, items: {$ref: "#/components/schemas/Segment"}}
                          next_cursor: {$ref: "#/components/schemas/NextCursor"}
                "400": {$ref: "#/components/responses/BadRequest"}
                "401": {$ref: "#/components/responses/Unauthorized"}
                "403": {$ref: "#/components/responses/Forbidden"}
                "503": {$ref: "#/components/responses/Unavailable"}
            post:
              tags: [segments]
              operationId: createSegment
              summary: Save a segment (admin).
              requestBody:
                required: true
                content:
                  application/json:
                    schema: {$ref: "#/components/schemas/SegmentInput"}
              responses:
                "201":
                  description: The segment.
                  content:
                    application/json:
                      schema: {$ref: "#/components/schemas/Segment"}
                "400": {$ref: "#/components/responses/BadRequest"}
                "401": {$ref: "#/components/responses/Unauthorized"}
                "403": {$ref: "#/components/responses/Forbidden"}
                "409": {$ref: "#/components/responses/Conflict"}
                "413": {$ref: "#/components/responses/TooLarge"}
                "415": {$ref: "#/components/responses/UnsupportedMediaType"}
                "503": {$ref: "#/components/responses/Unavailable"}
          /v1/segments/{id}:
            parameters:
              - {$ref: "#/components/parameters/Id"}
            get:
              tags: [segments]
              operationId: getSegment
              summary: One segment.
              responses:
                "200":
                  description: The segment.
                  content:
                    application/json:
                      schema: {$ref: "#/components/schemas/Segment"}
                "400": {$ref: "#/components/responses/BadRequest"}
                "401": {$ref: "#/components/responses/Unauthorized"}
                "403": {$ref: "#/components/responses/Forbidden"}
                "404": {$ref: "#/components/responses/NotFound"}
                "503": {$ref: "#/components/responses/Unavailable"}
            put:
              tags: [segments]
              operationId: putSegment
              summary: Create or replace a segment (admin).
              requestBody:
                required: true
                content:
                  application/json:
                    schema: {$ref: "#/components/schemas/SegmentUpdate"}
              responses:
                "200":
                  description: The segment.
                  content:
                    application/json:
                      schema: {$ref: "#/components/schemas/Segment"}
                "201":
                  description: The segment, new.
                  content:
                    application/json:
                      schema: {$ref: "#/components/schemas/Segment"}
                "400": {$ref: "#/components/responses/BadRequest"}
                "401": {$ref: "#/components/responses/Unauthorized"}
                "403": {$ref: "#/components/responses/Forbidden"}
                "413": {$ref: "#/components/responses/TooLarge"}
                "415": {$ref: "#/components/responses/UnsupportedMediaType"}
                "503": {$ref: "#/components/responses/Unavailable"}
            delete:
              tags: [segments]
              operationId: deleteSegment
              summary: Delete a segment; its contacts stay (admin).
              responses:
                "204": {description: Deleted.}
                "400": {$ref: "#/components/responses/BadRequest"}
                "401": {$ref: "#/components/responses/Unauthorized"}
                "403": {$ref: "#/components/responses/Forbidden"}
                "404": {$ref: "#/components/responses/NotFound"}
                "503": {$ref: "#/components/responses/Unavailable"}
          /v1/segments/{id}/count:
            get:
              tags: [segments]
              operationId: countSegment
              summary: How many contacts the segment holds now.
              parameters:
                - {$ref: "#/components/parameters/Id"}
              responses:
                "200":
                  description: The count.
                  content:
                    application/json:
                      schema: {$ref: "#/components/schemas/Count"}
                "400": {$ref: "#/components/responses/BadRequest"}
                "401": {$ref: "#/components/responses/Unauthorized"}
                "403": {$ref: "#/components/responses/Forbidden"}
                "404": {$ref: "#/components/responses/NotFound"}
                "503": {$ref: "#/components/responses/Unavailable"}
          /v1/segments/{id}/contacts:
            get:
              tags: [segments]
              operationId: listSegmentContacts
              summary: A page of the segment's members.
              parameters:
                - {$ref: "#/components/parameters/Id"}
                - {$ref: "#/components/parameters/Limit"}
                - {$ref: "#/components/parameters/Cursor"}
              responses:
                "200":
                  description: A page of profiles.
                  content:
                    application/json:
                      schema: {$ref: "#/components/schemas/ContactPage"}
                "400": {$ref: "#/components/responses/BadRequest"}
                "401": {$ref: "#/components/responses/Unauthorized"}
                "403": {$ref: "#/components/responses/Forbidden"}
                "404": {$ref: "#/components/responses/NotFound"}
                "503": {$ref: "#/components/responses/Unavailable"}
          /v1/campaigns:
            get:
              tags: [campaigns]
              operationId: listCampaigns
              summary: Campaign ids (admin).
              parameters:
                - {$ref: "#/components/parameters/Limit"}
                - {$ref: "#/components/parameters/Cursor"}
              responses:
                "200":
                  description: A page of ids.
                  content:
                    application/json:
                      schema:
                        type: object
                        required: [campaigns, next_cursor]
                        properties:
                          campaigns: {type: array, items: {type: string}}
                          next_cursor: {$ref: "#/components/schemas/NextCursor"}
                "400": {$ref: "#/components/responses/BadRequest"}
                "401": {$ref: "#/components/responses/Unauthorized"}
                "403": {$ref: "#/components/responses/Forbidden"}
                "503": {$ref: "#/components/responses/Unavailable"}
          /v1/campaigns/validate:
            post:
              tags: [campaigns]
              operationId: validateCampaign
              summary: Check a campaign's YAML; saves nothing.
              requestBody: {$ref: "#/components/requestBodies/CampaignYAML"}
              responses:
                "200":
                  description: Valid.
                  content:
                    application/json:
                      schema: {$ref: "#/components/schemas/Object"}
                "400": {$ref: "#/components/responses/BadRequest"}
                "401": {$ref: "#/components/responses/Unauthorized"}
                "403": {$ref: "#/components/responses/Forbidden"}
                "413": {$ref: "#/components/responses/TooLarge"}
                "422": {$ref: "#/components/responses/Unprocessable"}
                "503": {$ref: "#/components/responses/Unavailable"}
          /v1/campaigns/{id}:
            get:
              tags: [campaigns]
              operationId: getCampaign
              summary: A campaign's state and versions, or one version's YAML (`version=N`).
              parameters:
                - {$ref: "#/components/parameters/CampaignId"}
                - {name: version, in: query, description: A version number; the answer is that version's YAML., schema: {type: string}}
                - {name: yaml, in: query, description: Any value; the answer is the draft's (or the newest) YAML., schema: {type: string}}
              responses:
                "200":
                  description: The campaign, or YAML.
                  content:
                    application/json:
                      schema: {$ref: "#/components/schemas/Object"}
                    application/yaml:
                      schema: {type: string}
                "400": {$ref: "#/components/responses/BadRequest"}
                "401": {$ref: "#/components/responses/Unauthorized"}
                "403": {$ref: "#/components/responses/Forbidden"}
                "404": {$ref: "#/components/responses/NotFound"}
                "503": {$ref: "#/components/responses/Unavailable"}
          /v1/campaigns/{id}/draft:
            put:
              tags: [campaigns]
              operationId: saveCampaignDraft
              summary: Save a draft (its YAML's id must be the URL's).
              parameters:
                - {$ref: "#/components/parameters/CampaignId"}
              requestBody: {$ref: "#/components/requestBodies/CampaignYAML"}
              responses:
                "200":
                  description: Saved.
                  content:
                    application/json:
                      schema: {$ref: "#/components/schemas/Object"}
                "400": {$ref: "#/components/responses/BadRequest"}
                "401": {$ref: "#/components/responses/Unauthorized"}
                "403": {$ref: "#/components/responses/Forbidden"}
                "409": {$ref: "#/components/responses/Conflict"}
                "413": {$ref: "#/components/responses/TooLarge"}
                "422": {$ref: "#/components/responses/Unprocessable"}
                "503": {$ref: "#/components/responses/Unavailable"}
          /v1/campaigns/{id}/publish:
            post:
              tags: [campaigns]
              operationId: publishCampaign
              summary: Publish the body (or the saved draft when the body is empty) as a new version.
              parameters:
                - {$ref: "#/components/parameters/CampaignId"}
                - {$ref: "#/components/parameters/RetireMode"}
              requestBody:
                content:
                  application/yaml:
                    schema: {type: string}
              responses:
                "200":
                  description: The new version.
                  content:
                    application/json:
                      schema: {$ref: "#/components/schemas/Object"}
                "400": {$ref: "#/components/responses/BadRequest"}
                "401": {$ref: "#/components/responses/Unauthorized"}
                "403": {$ref: "#/components/responses/Forbidden"}
                "409": {$ref: "#/components/responses/Conflict"}
                "413": {$ref: "#/components/responses/TooLarge"}
                "422": {$ref: "#/components/responses/Unprocessable"}
                "503": {$ref: "#/components/responses/Unavailable"}
          /v1/campaigns/{id}/rollback:
            post:
              tags: [campaigns]
              operationId: rollbackCampaign
              summary: Publish an earlier version again.
              parameters:
                - {$ref: "#/components/parameters/CampaignId"}
                - {name: version, in: query, required: true, schema: {type: integer, minimum: 1}}
                - {$ref: "#/components/parameters/RetireMode"}
              responses:
                "200":
                  description: The new version.
                  content:
                    application/json:
                      schema: {$ref: "#/components/schemas/Object"}
                "400": {$ref: "#/components/responses/BadRequest"}
                "401": {$ref: "#/components/responses/Unauthorized"}
                "403": {$ref: "#/components/responses/Forbidden"}
                "409": {$ref: "#/components/responses/Conflict"}
                "503": {$ref: "#/components/responses/Unavailable"}
          /v1/campaigns/{id}/pause:
            post:
              tags: [campaigns]
              operationId: pauseCampaign
              summary: Hold the campaign's journeys where they are.
              parameters:
                - {$ref: "#/components/parameters/CampaignId"}
              responses:
                "200":
                  description: The campaign's state.
                  content:
                    application/json:
                      schema:
                        type: object
                        required: [state]
                        properties:
                          state: {type: string}
                "400": {$ref: "#/components/responses/BadRequest"}
                "401": {$ref: "#/components/responses/Unauthorized"}
                "403": {$ref: "#/components/responses/Forbidden"}
                "409": {$ref: "#/components/responses/Conflict"}
                "503": {$ref: "#/components/responses/Unavailable"}
          /v1/campaigns/{id}/resume:
            post:
              tags: [campaigns]
              operationId: resumeCampaign
              summary: Let a paused campaign go on.
              parameters:
                - {$ref: "#/components/parameters/CampaignId"}
              responses:
                "200":
                  description: The campaign's state.
                  content:
                    application/json:
                      schema:
                        type: object
                        required: [state]
                        properties:
                          state: {type: string}
                "400": {$ref: "#/components/responses/BadRequest"}
                "401": {$ref: "#/components/responses/Unauthorized"}
                "403": {$ref: "#/components/responses/Forbidden"}
                "409": {$ref: "#/components/responses/Conflict"}
                "503": {$ref: "#/components/responses/Unavailable"}
          /v1/campaigns/{id}/stop:
            post:
              tags: [campaigns]
              operationId: stopCampaign
              summary: Stop the campaign (`mode=drain` lets running journeys finish).
              parameters:
                - {$ref: "#/components/parameters/CampaignId"}
                - {$ref: "#/components/parameters/RetireMode"}
              responses:
                "200":
                  description: The campaign's state.
                  content:
                    application/json:
                      schema:
                        type: object
                        required: [state]
                        properties:
                          state: {type: string}
                "400": {$ref: "#/components/responses/BadRequest"}
                "401": {$ref: "#/components/responses/Unauthorized"}
                "403": {$ref: "#/components/responses/Forbidden"}
                "409": {$ref: "#/components/responses/Conflict"}
                "503": {$ref: "#/components/responses/Unavailable"}
          /v1/campaigns/{id}/test:
            post:
              tags: [campaigns]
              operationId: testCampaign
              summary: Start a test journey for one contact.
              parameters:
                - {$ref: "#/components/parameters/CampaignId"}
                - {name: contact, in: query, required: true, schema: {type: string, minLength: 1}}
              responses:
                "202":
                  description: The test journey was requested.
                  content:
                    application/json:
                      schema: {$ref: "#/components/schemas/Object"}
                "400": {$ref: "#/components/responses/BadRequest"}
                "401": {$ref: "#/components/responses/Unauthorized"}
                "403": {$ref: "#/components/responses/Forbidden"}
                "409": {$ref: "#/components/responses/Conflict"}
                "503": {$ref: "#/components/responses/Unavailable"}
          /v1/campaigns/{id}/report:
            get:
              tags: [campaigns]
              operationId: campaignReport
              summary: Journeys per step and outcome.
              parameters:
                - {$ref: "#/components/parameters/CampaignId"}
              responses:
                "200":
                  description: The report.
                  content:
                    application/json:
                      schema: {$ref: "#/components/schemas/Object"}
                "400": {$ref: "#/components/responses/BadRequest"}
                "401": {$ref: "#/components/responses/Unauthorized"}
                "403": {$ref: "#/components/responses/Forbidden"}
                "404": {$ref: "#/components/responses/NotFound"}
                "503": {$ref: "#/components/responses/Unavailable"}
          /v1/campaigns/{id}/messages:
            get:
              tags: [messages]
              operationId: campaignMessageStates
              summary: How many of the campaign's messages are in each state.
              parameters:
                - {$ref: "#/components/parameters/CampaignId"}
              responses:
                "200":
                  description: Counts by state.
                  content:
                    application/json:
                      schema:
                        type: object
                        required: [campaign_id, states]
                        properties:
                          campaign_id: {type: string}
                          states: {type: object, additionalProperties: {type: integer}}
                "401": {$ref: "#/components/responses/Unauthorized"}
                "403": {$ref: "#/components/responses/Forbidden"}
                "503": {$ref: "#/components/responses/Unavailable"}
          /v1/broadcasts:
            get:
              tags: [broadcasts]
              operationId: listBroadcasts
              summary: Broadcasts, oldest first, with their progress.
              parameters:
                - {$ref: "#/components/parameters/Limit"}
                - {$ref: "#/components/parameters/Cursor"}
              responses:
                "200":
                  description: A page of broadcasts.
                  content:
                    application/json:
                      schema:
                        type: object
                        required: [broadcasts, next_cursor]
                        properties:
                          broadcasts: {type: array, items: {$ref: "#/components/schemas/Broadcast"}}
                          next_cursor: {$ref: "#/components/schemas/NextCursor"}
                "400": {$ref: "#/components/responses/BadRequest"}
                "401": {$ref: "#/components/responses/Unauthorized"}
                "403": {$ref: "#/components/responses/Forbidden"}
                "503": {$ref: "#/components/responses/Unavailable"}
            post:
              tags: [broadcasts]
              operationId: createBroadcast
              summary: Create a broadcast, a draft until started (docs/broadcasts.md).
              requestBody:
                required: true
                content:
                  application/json:
                    schema: {$ref: "#/components/schemas/BroadcastInput"}
              responses:
                "201":
                  description: The broadcast.
                  content:
                    application/json:
                      schema: {$ref: "#/components/schemas/Broadcast"}
                "400": {$ref: "#/components/responses/BadRequest"}
                "401": {$ref: "#/components/responses/Unauthorized"}
                "403": {$ref: "#/components/responses/Forbidden"}
                "409": {$ref: "#/components/responses/Conflict"}
                "413": {$ref: "#/components/responses/TooLarge"}
                "415": {$ref: "#/components/responses/UnsupportedMediaType"}
                "422": {$ref: "#/components/responses/Unprocessable"}
                "503": {$ref: "#/components/responses/Unavailable"}
          /v1/broadcasts/{id}:
            get:
              tags: [broadcasts]
              operationId: getBroadcast
              summary: A broadcast, its progress and its recipients by state.
              parameters:
                - {$ref: "#/components/parameters/Id"}
              responses:
                "200":
                  description: The broadcast.
                  content:
                    application/json:
                      schema: {$ref: "#/components/schemas/Broadcast"}
                "400": {$ref: "#/components/responses/BadRequest"}
                "401": {$ref: "#/components/responses/Unauthorized"}
                "403": {$ref: "#/components/responses/Forbidden"}
                "404": {$ref: "#/components/responses/NotFound"}
                "503": {$ref: "#/components/responses/Unavailable"}
          /v1/broadcasts/{id}/start:
            post:
              tags: [broadcasts]
              operationId: broadcastStart
              summary: "The 'start' action (docs/broadcasts.md, states and actions)."
              parameters:
                - {$ref: "#/components/parameters/Id"}
              responses:
                "200":
                  description: The broadcast in its new state.
                  content:
                    application/json:
                      schema: {$ref: "#/components/schemas/Broadcast"}
                "400": {$ref: "#/components/responses/BadRequest"}
                "401": {$ref: "#/components/responses/Unauthorized"}
                "403": {$ref: "#/components/responses/Forbidden"}
                "404": {$ref: "#/components/responses/NotFound"}
                "409": {$ref: "#/components/responses/Conflict"}
                "503": {$ref: "#/components/responses/Unavailable"}
          /v1/broadcasts/{id}/pause:
            post:
              tags: [broadcasts]
              operationId: broadcastPause
              summary: "The 'pause' action (docs/broadcasts.md, states and actions)."
              parameters:
                - {$ref: "#/components/parameters/Id"}
              responses:
                "200":
                  description: The broadcast in its new state.
                  content:
                    application/json:
                      schema: {$ref: "#/components/schemas/Broadcast"}
                "400": {$ref: "#/components/responses/BadRequest"}
                "401": {$ref: "#/components/responses/Unauthorized"}
                "403": {$ref: "#/components/responses/Forbidden"}
                "404": {$ref: "#/components/responses/NotFound"}
                "409": {$ref: "#/components/responses/Conflict"}
                "503": {$ref: "#/components/responses/Unavailable"}
          /v1/broadcasts/{id}/resume:
            post:
              tags: [broadcasts]
              operationId: broadcastResume
              summary: "The 'resume' action (docs/broadcasts.md, states and actions)."
              parameters:
                - {$ref: "#/components/parameters/Id"}
              responses:
                "200":
                  description: The broadcast in its new state.
                  content:
                    application/json:
                      schema: {$ref: "#/components/schemas/Broadcast"}
                "400": {$ref: "#/components/responses/BadRequest"}
                "401": {$ref: "#/components/responses/Unauthorized"}
                "403": {$ref: "#/components/responses/Forbidden"}
                "404": {$ref: "#/components/responses/NotFound"}
                "409": {$ref: "#/components/responses/Conflict"}
                "503": {$ref: "#/components/responses/Unavailable"}
          /v1/broadcasts/{id}/cancel:
            post:
              tags: [broadcasts]
              operationId: broadcastCancel
              summary: "The 'cancel' action (docs/broadcasts.md, states and actions)."
              parameters:
                - {$ref: "#/components/parameters/Id"}
              responses:
                "200":
                  description: The broadcast in its new state.
                  content:
                    application/json:
                      schema: {$ref: "#/components/schemas/Broadcast"}
                "400": {$ref: "#/components/responses/BadRequest"}
                "401": {$ref: "#/components/responses/Unauthorized"}
                "403": {$ref: "#/components/responses/Forbidden"}
                "404": {$ref: "#/components/responses/NotFound"}
                "409": {$ref: "#/components/responses/Conflict"}
                "503": {$ref: "#/components/responses/Unavailable"}
          /v1/broadcasts/{id}/retry-failed:
            post:
              tags: [broadcasts]
              operationId: broadcastRetryFailed
              summary: "The 'retry-failed' action (docs/broadcasts.md, states and actions)."
              parameters:
                - {$ref: "#/components/parameters/Id"}
              responses:
                "200":
                  description: The broadcast in its new state.
                  content:
                    application/json:
                      schema: {$ref: "#/components/schemas/Broadcast"}
                "400": {$ref: "#/components/responses/BadRequest"}
                "401": {$ref: "#/components/responses/Unauthorized"}
                "403": {$ref: "#/components/responses/Forbidden"}
                "404": {$ref: "#/components/responses/NotFound"}
                "409": {$ref: "#/components/responses/Conflict"}
                "503": {$ref: "#/components/responses/Unavailable"}
          /v1/broadcasts/{id}/recipients:
            parameters:
              - {$ref: "#/components/parameters/Id"}
            get:
              tags: [broadcasts]
              operationId: listBroadcastRecipients
              summary: A page of the broadcast's recipients and their states.
              parameters:
                - {name: state, in: query, description: Only recipients in this state., schema: {type: string}}
                - {$ref: "#/components/parameters/Limit"}
                - {$ref: "#/components/parameters/Cursor"}
              responses:
                "200":
                  description: A page of recipients.
                  content:
                    application/json:
                      schema:
                        type: object
                        required: [recipients, next_cursor]
                        properties:
                          recipients: {type: array, items: {$ref: "#/components/schemas/Object"}}
                          next_cursor: {$ref: "#/components/schemas/NextCursor"}
                "400": {$ref: "#/components/responses/BadRequest"}
                "401": {$ref: "#/components/responses/Unauthorized"}
                "403": {$ref: "#/components/responses/Forbidden"}
                "404": {$ref: "#/components/responses/NotFound"}
                "503": {$ref: "#/components/responses/Unavailable"}
            post:
              tags: [broadcasts]
              operationId: addBroadcastRecipients
              summary: Add recipients, from an audience (JSON) or a CSV (text/csv).
              parameters:
                - {name: country, in: query, description: "CSV only: default calling code for phones without one.", schema: {type: string}}
              requestBody:
                required: true
                content:
                  application/json:
                    schema:
                      type: object
                      required: [audience]
                      additionalProperties: false
                      properties:
                        audience: {$ref: "#/components/schemas/Audience"}
                  text/csv:
                    schema: {type: string, format: binary, description: "CSV bytes: UTF-8 (with or without BOM) or Windows-1250."}
              responses:
                "200":
                  description: "CSV: the rows added and refused."
                  content:
                    application/json:
                      schema: {$ref: "#/components/schemas/Object"}
                "202":
                  description: "Audience: being added (follow `adding` on the broadcast)."
                  content:
                    application/json:
                      schema: {$ref: "#/components/schemas/Object"}
                "400": {$ref: "#/components/responses/BadRequest"}
                "401": {$ref: "#/components/responses/Unauthorized"}
                "403": {$ref: "#/components/responses/Forbidden"}
                "404": {$ref: "#/components/responses/NotFound"}
                "409": {$ref: "#/components/responses/Conflict"}
                "413": {$ref: "#/components/responses/TooLarge"}
                "415": {$ref: "#/components/responses/UnsupportedMediaType"}
                "422": {$ref: "#/components/responses/Unprocessable"}
                "503": {$ref: "#/components/responses/Unavailable"}
                "507": {$ref: "#/components/responses/SpoolFull"}
          /v1/broadcasts/{id}/recipients.csv:
            get:
              tags: [broadcasts]
              operationId: exportBroadcastRecipients
              summary: The recipients and their states as CSV, streamed.
              parameters:
                - {$ref: "#/components/parameters/Id"}
                - {name: state, in: query, schema: {type: string}}
              responses:
                "200":
                  description: The CSV.
                  content:
                    text/csv:
                      schema: {type: string}
                "400": {$ref: "#/components/responses/BadRequest"}
                "401": {$ref: "#/components/responses/Unauthorized"}
                "403": {$ref: "#/components/responses/Forbidden"}
                "404": {$ref: "#/components/responses/NotFound"}
                "503": {$ref: "#/components/responses/Unavailable"}
          /v1/broadcasts/{id}/template.csv:
            get:
              tags: [broadcasts]
              operationId: broadcastTemplate
              summary: A blank recipients CSV for the broadcast's template (the phone, then its variables).
              parameters:
                - {$ref: "#/components/parameters/Id"}
              responses:
                "200":
                  description: The header row.
                  content:
                    text/csv:
                      schema: {type: string}
                "400": {$ref: "#/components/responses/BadRequest"}
                "401": {$ref: "#/components/responses/Unauthorized"}
                "403": {$ref: "#/components/responses/Forbidden"}
                "404": {$ref: "#/components/responses/NotFound"}
                "409": {$ref: "#/components/responses/Conflict"}
                "503": {$ref: "#/components/responses/Unavailable"}
          /v1/alerts:
            get:
              tags: [alerts]
              operationId: listAlerts
              summary: Alert rules, by id, with their summaries.
              parameters:
                - {$ref: "#/components/parameters/Limit"}
                - {$ref: "#/components/parameters/Cursor"}
              responses:
                "200":
                  description: A page of rules.
                  content:
                    application/json:
                      schema:
                        type: object
                        required: [alerts, next_cursor]
                        properties:
                          alerts: {type: array, items: {$ref: "#/components/schemas/Object"}}
                          next_cursor: {$ref: "#/components/schemas/NextCursor"}
                "400": {$ref: "#/components/responses/BadRequest"}
                "401": {$ref: "#/components/responses/Unauthorized"}
                "403": {$ref: "#/components/responses/Forbidden"}
                "503": {$ref: "#/components/responses/Unavailable"}
            post:
              tags: [alerts]
              operationId: createAlert
              summary: Create an alert rule (docs/alerts.md).
              requestBody: {$ref: "#/components/requestBodies/AlertRule"}
              responses:
                "201":
                  description: The rule.
                  content:
                    application/json:
                      schema: {$ref: "#/components/schemas/Object"}
                "400": {$ref: "#/components/responses/BadRequest"}
                "401": {$ref: "#/components/responses/Unauthorized"}
                "403": {$ref: "#/components/responses/Forbidden"}
                "409": {$ref: "#/components/responses/Conflict"}
                "413": {$ref: "#/components/responses/TooLarge"}
                "422": {$ref: "#/components/responses/Unprocessable"}
                "503": {$ref: "#/components/responses/Unavailable"}
          /v1/alerts/validate:
            post:
              tags: [alerts]
              operationId: validateAlert
              summary: Check a rule; saves nothing.
              requestBody: {$ref: "#/components/requestBodies/AlertRule"}
              responses:
                "200":
                  description: Valid, with its summary.
                  content:
                    application/json:
                      schema: {$ref: "#/components/schemas/Object"}
                "400": {$ref: "#/components/responses/BadRequest"}
                "401": {$ref: "#/components/responses/Unauthorized"}
                "403": {$ref: "#/components/responses/Forbidden"}
                "413": {$ref: "#/components/responses/TooLarge"}
                "422": {$ref: "#/components/responses/Unprocessable"}
                "503": {$ref: "#/components/responses/Unavailable"}
          /v1/alerts/{id}:
            parameters:
              - {$ref: "#/components/parameters/Id"}
            get:
              tags: [alerts]
              operationId: getAlert
              summary: One rule and its summary.
              responses:
                "200":
                  description: The rule.
                  content:
                    application/json:
                      schema: {$ref: "#/components/schemas/Object"}
                "401": {$ref: "#/components/responses/Unauthorized"}
                "403": {$ref: "#/components/responses/Forbidden"}
                "404": {$ref: "#/components/responses/NotFound"}
                "503": {$ref: "#/components/responses/Unavailable"}
            put:
              tags: [alerts]
              operationId: putAlert
              summary: Create or replace a rule.
              requestBody: {$ref: "#/components/requestBodies/AlertRule"}
              responses:
                "200":
                  description: The rule.
                  content:
                    application/json:
                      schema: {$ref: "#/components/schemas/Object"}
                "400": {$ref: "#/components/responses/BadRequest"}
                "401": {$ref: "#/components/responses/Unauthorized"}
                "403": {$ref: "#/components/responses/Forbidden"}
                "413": {$ref: "#/components/responses/TooLarge"}
                "422": {$ref: "#/components/responses/Unprocessable"}
                "503": {$ref: "#/components/responses/Unavailable"}
            delete:
              tags: [alerts]
              operationId: deleteAlert
              summary: Delete a rule.
              responses:
                "200":
                  description: Deleted.
                  content:
                    application/json:
                      schema: {$ref: "#/components/schemas/Object"}
                "401": {$ref: "#/components/responses/Unauthorized"}
                "403": {$ref: "#/components/responses/Forbidden"}
                "404": {$ref: "#/components/responses/NotFound"}
                "503": {$ref: "#/components/responses/Unavailable"}
          /v1/alerts/{id}/enable:
            post:
              tags: [alerts]
              operationId: enableAlert
              summary: Turn the rule's switch (enable).
              parameters:
                - {$ref: "#/components/parameters/Id"}
              responses:
                "200":
                  description: The rule.
                  content:
                    application/json:
                      schema: {$ref: "#/components/schemas/Object"}
                "401": {$ref: "#/components/responses/Unauthorized"}
                "403": {$ref: "#/components/responses/Forbidden"}
                "404": {$ref: "#/components/responses/NotFound"}
                "503": {$ref: "#/components/responses/Unavailable"}
          /v1/alerts/{id}/disable:
            post:
              tags: [alerts]
              operationId: disableAlert
              summary: Turn the rule's switch (disable).
              parameters:
                - {$ref: "#/components/parameters/Id"}
              responses:
                "200":
                  description: The rule.
                  content:
                    application/json:
                      schema: {$ref: "#/components/schemas/Object"}
                "401": {$ref: "#/components/responses/Unauthorized"}
                "403": {$ref: "#/components/responses/Forbidden"}
                "404": {$ref: "#/components/responses/NotFound"}
                "503": {$ref: "#/components/responses/Unavailable"}
          /v1/alerts/{id}/stats:
            get:
              tags: [alerts]
              operationId: alertStats
              summary: Per local day, what the rule matched, sent and suppressed.
              parameters:
                - {$ref: "#/components/parameters/Id"}
                - {name: days, in: query, schema: {type: integer, minimum: 1, maximum: 366, default: 7}}
              responses:
                "200":
                  description: The days.
                  content:
                    application/json:
                      schema: {$ref: "#/components/schemas/Object"}
                "400": {$ref: "#/components/responses/BadRequest"}
                "401": {$ref: "#/components/responses/Unauthorized"}
                "403": {$ref: "#/components/responses/Forbidden"}
                "404": {$ref: "#/components/responses/NotFound"}
                "503": {$ref: "#/components/responses/Unavailable"}
          /v1/unsubscribe:
            parameters:
              - {name: contact, in: query, required: true, schema: {type: string}}
              - {name: message, in: query, schema: {type: string}}
              - {name: token, in: query, required: true, description: The link's signature (`delivery.unsubscribe_secret`)., schema: {type: string}}
            get:
              tags: [messages]
              operationId: unsubscribePage
              summary: The page an email's unsubscribe link opens (asks to confirm).
              security: []
              responses:
                "200":
                  description: A form that POSTs to the same link.
                  content:
                    text/html:
                      schema: {type: string}
                "403": {$ref: "#/components/responses/Forbidden"}
                "503": {$ref: "#/components/responses/Unavailable"}
            post:
              tags: [messages]
              operationId: unsubscribe
              summary: Unsubscribe (RFC 8058 one-click, or the page's form).
              security: []
              responses:
                "200":
                  description: Unsubscribed from email.
                  content:
                    application/json:
                      schema: {$ref: "#/components/schemas/Object"}
                "403": {$ref: "#/components/responses/Forbidden"}
                "503": {$ref: "#/components/responses/Unavailable"}
          /v1/t/o:
            get:
              tags: [messages]
              operationId: trackOpen
              summary: The open-tracking pixel.
              security: []
              parameters:
                - {name: contact, in: query, schema: {type: string}}
                - {name: message, in: query, schema: {type: string}}
                - {name: campaign, in: query, schema: {type: string}}
                - {name: token, in: query, schema: {type: string}}
              responses:
                "200":
                  description: A 1×1 GIF, whatever the token (a bad one records nothing).
                  content:
                    image/gif:
                      schema: {type: string, format: binary}
          /v1/t/c:
            get:
              tags: [messages]
              operationId: trackClick
              summary: A tracked link; records the click and redirects.
              security: []
              parameters:
                - {name: contact, in: query, schema: {type: string}}
                - {name: message, in: query, schema: {type: string}}
                - {name: campaign, in: query, schema: {type: string}}
                - {name: url, in: query, required: true, schema: {type: string}}
                - {name: token, in: query, required: true, schema: {type: string}}
              responses:
                "302":
                  description: To the link's target.
                  headers:
                    Location: {schema: {type: string}}
                "403": {$ref: "#/components/responses/Forbidden"}
          /v1/status/whatsapp:
            get:
              tags: [providers]
              operationId: whatsappVerify
              summary: Meta's webhook verification (`hub.challenge` echoed).
              security: []
              parameters:
                - {name: hub.mode, in: query, schema: {type: string}}
                - {name: hub.verify_token, in: query, schema: {type: string}}
                - {name: hub.challenge, in: query, schema: {type: string}}
              responses:
                "200":
                  description: The challenge.
                  content:
                    text/plain:
                      schema: {type: string}
                "403": {$ref: "#/components/responses/Forbidden"}
            post:
              tags: [providers]
              operationId: whatsappStatus
              summary: Meta's status and template webhooks, signed with X-Hub-Signature-256.
              security: []
              parameters:
                - {name: X-Hub-Signature-256, in: header, required: true, schema: {type: string}}
              requestBody:
                required: true
                content:
                  application/json:
                    schema: {type: object}
              responses:
                "200":
                  description: Applied.
                  content:
                    application/json:
                      schema: {$ref: "#/components/schemas/Object"}
                "400": {$ref: "#/components/responses/BadRequest"}
                "401": {$ref: "#/components/responses/Unauthorized"}
                "413": {$ref: "#/components/responses/TooLarge"}
                "503": {$ref: "#/components/responses/Unavailable"}
          /v1/status/twilio:
            post:
              tags: [providers]
              operationId: twilioStatus
              summary: Twilio's status callback, signed with X-Twilio-Signature.
              security: []
              parameters:
                - {name: X-Twilio-Signature, in: header, required: true, schema: {type: string}}
              requestBody:
                required: true
                content:
                  application/x-www-form-urlencoded:
                    schema:
                      type: object
                      properties:
                        MessageSid: {type: string}
                        MessageStatus: {type: string}
                        ErrorCode: {type: string}
              responses:
                "200":
                  description: Applied.
                  content:
                    application/json:
                      schema: {$ref: "#/components/schemas/Object"}
                "400": {$ref: "#/components/responses/BadRequest"}
                "401": {$ref: "#/components/responses/Unauthorized"}
                "413": {$ref: "#/components/responses/TooLarge"}
                "503": {$ref: "#/components/responses/Unavailable"}
        components:
          securitySchemes:
            apiKey:
              type: http
              scheme: bearer
              description: An ingest, read or admin key (see the description above).
          parameters:
            Limit:
              name: limit
              in: query
              description: Items per page, 1 to 1000.
              schema: {type: integer, minimum: 1, maximum: 1000, default: 100}
            Cursor:
              name: cursor
              in: query
              description: The `next_cursor` of the page before, as given.
              schema: {type: string}
            ListFilter: {name: list, in: query, description: Members of this list., schema: {type: string, minLength: 1, maxLength: 256}}
            TagFilter: {name: tag, in: query, description: Contacts with this tag., schema: {type: string, minLength: 1, maxLength: 256}}
            WhereFilter: {name: where, in: query, description: A condition (JSON or YAML text)., schema: {type: string, minLength: 1}}
            SegmentFilter: {name: segment, in: query, description: A saved segment's id., schema: {type: string, minLength: 1, maxLength: 64}}
            ContactId:
              name: id
              in: path
              required: true
              description: The contact's id, 1 to 256 bytes.
              schema: {type: string, minLength: 1, maxLength: 256}
            Id:
              name: id
              in: path
              required: true
              description: 1 to 64 of a-z, 0-9, '_' and '-'.
              schema: {type: string, minLength: 1, maxLength: 64, pattern: "^[a-z0-9][a-z0-9_-]*$"}
            ImportId:
              name: id
              in: path
              required: true
              schema: {type: string, minLength: 1, maxLength: 64}
            CampaignId:
              name: id
              in: path
              required: true
              description: The campaign's id (letters, digits, '-' and '_').
              schema: {type: string, minLength: 1}
            RetireMode:
              name: mode
              in: query
              description: What happens to journeys on the previous version.
              schema: {type: string, enum: [drain, now], default: drain}
          requestBodies:
            CampaignYAML:
              required: true
              content:
                application/yaml:
                  schema: {type: string}
            AlertRule:
              required: true
              content:
                application/json:
                  schema: {type: object}
                application/yaml:
                  schema: {type: string}
          responses:
            BadRequest:
              description: An input is malformed; `field` names it.
              content:
                application/problem+json:
                  schema: {$ref: "#/components/schemas/Problem"}
            Unauthorized:
              description: No known key.
              headers:
                WWW-Authenticate: {schema: {type: string}}
              content:
                application/problem+json:
                  schema: {$ref: "#/components/schemas/Problem"}
            Forbidden:
              description: The key's scope is too small, or a link's token is not valid.
              content:
                application/problem+json:
                  schema: {$ref: "#/components/schemas/Problem"}
            NotFound:
              description: No such item.
              content:
                application/problem+json:
                  schema: {$ref: "#/components/schemas/Problem"}
            Conflict:
              description: The item exists, or its state does not allow this.
              content:
                application/problem+json:
                  schema: {$ref: "#/components/schemas/Problem"}
            SpoolFull:
              description: No space left in imports.dir for the uploaded CSV; nothing was kept.
              content:
                application/problem+json:
                  schema: {$ref: "#/components/schemas/Problem"}
            TooLarge:
              description: The body is over its limit.
              content:
                application/problem+json:
                  schema: {$ref: "#/components/schemas/Problem"}
            UnsupportedMediaType:
              description: The body must be JSON (or the type the route names).
              content:
                application/problem+json:
                  schema: {$ref: "#/components/schemas/Problem"}
            Unprocessable:
              description: Well-formed but invalid; `field`, `line` or `reason` say where.
              content:
                application/problem+json:
                  schema: {$ref: "#/components/schemas/Problem"}
            Unavailable:
              description: A store Herald depends on is unreachable; retry after Retry-After.
              headers:
                Retry-After: {schema: {type: string}}
              content:
                application/problem+json:
                  schema: {$ref: "#/components/schemas/Problem"}
          schemas:
            Problem:
              description: RFC 9457 problem details.
              type: object
              required: [type, title, status, detail]
              properties:
                type: {type: string}
                title: {type: string}
                status: {type: integer, minimum: 400, maximum: 599}
                detail: {type: string}
                field: {type: string, description: The input at fault.}
              additionalProperties: true
            Object:
              type: object
              additionalProperties: true
            NextCursor:
              description: Where the next page starts; null on the last page.
              type: [string, "null"]
            Count:
              type: object
              required: [count]
              properties:
                count: {type: integer, minimum: 0}
            Event:
              type: object
              required: [id, type, contact_id]
              properties:
                id: {type: string, minLength: 1, maxLength: 256}
                type: {type: string, pattern: "^[A-Za-z][A-Za-z0-9_.:-]{0,63}$"}
                contact_id: {type: string, minLength: 1, maxLength: 256}
                timestamp: {type: [string, "null"], format: date-time}
                properties: {type: object}
            IntakeSummary:
              type: object
              required: [accepted, duplicates, rejected, retry, results]
              properties:
                accepted: {type: integer}
                duplicates: {type: integer}
                rejected: {type: integer}
                retry: {type: integer}
                results: {type: array, items: {type: object}}
            Profile:
              type: object
              required: [id, attributes, tags, lists, consent, notes, purchases, updated_at_ms]
              properties:
                id: {type: string}
                email: {type: string}
                phone: {type: string}
                timezone: {type: string}
                language: {type: string}
                owner: {type: string}
                attributes: {type: object}
                tags: {type: array, items: {type: string}}
                lists: {type: array, items: {type: string}}
                consent: {type: object}
                notes: {type: object}
                purchases: {type: object}
                activity: {type: object}
                updated_at_ms: {type: integer}
            ContactInput:
              type: object
              additionalProperties: false
              properties:
                email: {type: [string, "null"], format: email}
                phone: {type: [string, "null"], pattern: "^\\+[1-9][0-9]{6,14}$"}
                timezone: {type: [string, "null"]}
                language: {type: [string, "null"]}
                owner: {type: [string, "null"]}
                attributes: {type: [object, "null"]}
                tags: {type: [array, "null"], items: {type: string}}
                lists: {type: [array, "null"], items: {type: string}}
                consent: {type: [object, "null"]}
            ContactPage:
              type: object
              required: [contacts, next_cursor]
              properties:
                contacts: {type: array, items: {$ref: "#/components/schemas/Profile"}}
                next_cursor: {$ref: "#/components/schemas/NextCursor"}
                scanned: {type: integer}
            JourneyPage:
              type: object
              required: [contact_id, journeys, next_cursor]
              properties:
                contact_id: {type: string}
                journeys: {type: array, items: {type: object}}
                next_cursor: {$ref: "#/components/schemas/NextCursor"}
            Message:
              type: object
              required: [id]
              properties:
                id: {type: string}
                state: {type: string}
                channel: {type: string}
                campaign: {type: string}
                reason: {type: string}
                attempts: {type: integer}
                created_ms: {type: integer}
                updated_ms: {type: integer}
            MessagePage:
              type: object
              required: [contact_id, messages, next_cursor]
              properties:
                contact_id: {type: string}
                messages: {type: array, items: {$ref: "#/components/schemas/Message"}}
                next_cursor: {$ref: "#/components/schemas/NextCursor"}
            ImportJob:
              type: object
              required: [id, state]
              properties:
                id: {type: string}
                state: {type: string, enum: [running, done, failed]}
              additionalProperties: true
            List:
              type: object
              required: [id]
              properties:
                id: {type: string}
                name: {type: string}
                created_at_ms: {type: integer}
                members: {type: integer}
            Segment:
              type: object
              required: [id]
              properties:
                id: {type: string}
                name: {type: string}
                where: {}
              additionalProperties: true
            SegmentInput:
              description: "`POST`: with its `id`."
              type: object
              required: [id, where]
              additionalProperties: false
              properties:
                id: {type: string, minLength: 1, maxLength: 64}
                name: {type: string}
                where:
                  description: A condition, as an object or as YAML text.
                  type: [object, string]
            SegmentUpdate:
              description: "`PUT`: the id is the path's."
              type: object
              required: [where]
              additionalProperties: false
              properties:
                name: {type: string}
                where:
                  description: A condition, as an object or as YAML text.
                  type: [object, string]
            Audience:
              description: "A segment, list, tag or condition: `{\"segment\": \"vip\"}`, `{\"list\": \"newsletter\"}`, `{\"where\": {…}}`."
              type: object
            BroadcastInput:
              type: object
              required: [id, channel]
              properties:
                id: {type: string, minLength: 1, maxLength: 64}
                name: {type: string}
                note: {type: string}
                channel: {type: string, enum: [whatsapp, sms, email]}
                template: {type: string}
                account: {type: string}
                language: {type: string}
                variables: {}
                category: {type: string, enum: [marketing, utility]}
                audience: {$ref: "#/components/schemas/Audience"}
                start_at: {type: string, format: date-time}
                window: {}
                time_zone: {type: string}
                pause_on_error_rate: {type: number}
                phone_field: {type: string}
                from: {type: string}
                from_name: {type: string}
            Broadcast:
              type: object
              required: [id, state]
              properties:
                id: {type: string}
                state: {type: string}
              additionalProperties: true
        """##
}
