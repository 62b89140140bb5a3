-- The least grants each Tandem service needs, on the three databases:
-- control (tandem_control), source (billing_v1) and target (billing_v2).
-- The portal-proxy needs none: it talks only to the router, the catalog and
-- the billing systems' HTTP backends.
--
-- Create the users first, each with its own password (the one its Secret
-- holds), on every server that holds one of its databases, e.g.
--   CREATE USER 'tandem_router'@'%' IDENTIFIED BY '...';
-- then run this file as an administrator (database names as in the chart's
-- defaults; change them here if databases.*.name differ). Table-level grants
-- on tables that do not exist yet are allowed because each includes CREATE
-- (the services create their own control tables at start-up) or, on the
-- billing databases, name tables the billing systems already have.
-- helm/tests/check-grants runs the router and the catalog against a MariaDB
-- with exactly these grants.

-- tandem-router: its own control tables (schema migrations at start-up,
-- then routes, keys, the change log, settings).
GRANT SELECT, INSERT, CREATE ON tandem_control.tandem_schema_migrations TO 'tandem_router'@'%';
GRANT SELECT, INSERT, UPDATE, DELETE, CREATE, ALTER, INDEX ON tandem_control.router_revision TO 'tandem_router'@'%';
GRANT SELECT, INSERT, UPDATE, DELETE, CREATE, ALTER, INDEX ON tandem_control.routes TO 'tandem_router'@'%';
GRANT SELECT, INSERT, UPDATE, DELETE, CREATE, ALTER, INDEX ON tandem_control.route_keys TO 'tandem_router'@'%';
GRANT SELECT, INSERT, UPDATE, DELETE, CREATE, ALTER, INDEX ON tandem_control.route_changes TO 'tandem_router'@'%';
GRANT SELECT, INSERT, UPDATE, DELETE, CREATE, ALTER, INDEX ON tandem_control.router_settings TO 'tandem_router'@'%';
GRANT SELECT, INSERT, UPDATE, DELETE, CREATE, ALTER, INDEX ON tandem_control.router_requests TO 'tandem_router'@'%';

-- tandem-router's import sources (router.importConfig), when used: a
-- read-only user of its own on the source, SELECT on what its queries read.
-- GRANT SELECT ON billing_v1.customers TO 'tandem_import'@'%';

-- tandem-catalog: its own control tables; on both billing databases the
-- product tables it keeps (products, their limits and add-ons) and what it
-- reads to plan moves (resource types and classes, customers, accounts,
-- subscriptions and their usage).
GRANT SELECT, INSERT, CREATE ON tandem_control.tandem_schema_migrations TO 'tandem_catalog'@'%';
GRANT SELECT, INSERT, UPDATE, DELETE, CREATE, ALTER, INDEX ON tandem_control.catalog_freeze TO 'tandem_catalog'@'%';
GRANT SELECT, INSERT, UPDATE, DELETE, CREATE, ALTER, INDEX ON tandem_control.catalog_settings TO 'tandem_catalog'@'%';
GRANT SELECT, INSERT, UPDATE, DELETE, CREATE, ALTER, INDEX ON tandem_control.catalog_counters TO 'tandem_catalog'@'%';
GRANT SELECT, INSERT, UPDATE, DELETE, CREATE, ALTER, INDEX ON tandem_control.catalog_products TO 'tandem_catalog'@'%';
GRANT SELECT, INSERT, UPDATE, DELETE, CREATE, ALTER, INDEX ON tandem_control.catalog_mappings TO 'tandem_catalog'@'%';
GRANT SELECT, INSERT, UPDATE, DELETE, CREATE, ALTER, INDEX ON tandem_control.catalog_audit TO 'tandem_catalog'@'%';
GRANT SELECT, INSERT, UPDATE, DELETE, CREATE, ALTER, INDEX ON tandem_control.catalog_requests TO 'tandem_catalog'@'%';
GRANT SELECT, INSERT, UPDATE, DELETE ON billing_v1.products TO 'tandem_catalog'@'%';
GRANT SELECT, INSERT, UPDATE, DELETE ON billing_v1.product_resources TO 'tandem_catalog'@'%';
GRANT SELECT, INSERT, UPDATE, DELETE ON billing_v1.product_addons TO 'tandem_catalog'@'%';
GRANT SELECT ON billing_v1.resource_types TO 'tandem_catalog'@'%';
GRANT SELECT ON billing_v1.resource_classes TO 'tandem_catalog'@'%';
GRANT SELECT ON billing_v1.customers TO 'tandem_catalog'@'%';
GRANT SELECT ON billing_v1.accounts TO 'tandem_catalog'@'%';
GRANT SELECT ON billing_v1.subscriptions TO 'tandem_catalog'@'%';
GRANT SELECT ON billing_v1.subscription_usage TO 'tandem_catalog'@'%';
GRANT SELECT, INSERT, UPDATE, DELETE ON billing_v2.products TO 'tandem_catalog'@'%';
GRANT SELECT, INSERT, UPDATE, DELETE ON billing_v2.product_resources TO 'tandem_catalog'@'%';
GRANT SELECT, INSERT, UPDATE, DELETE ON billing_v2.product_addons TO 'tandem_catalog'@'%';
GRANT SELECT ON billing_v2.resource_types TO 'tandem_catalog'@'%';
GRANT SELECT ON billing_v2.resource_classes TO 'tandem_catalog'@'%';
GRANT SELECT ON billing_v2.customers TO 'tandem_catalog'@'%';
GRANT SELECT ON billing_v2.accounts TO 'tandem_catalog'@'%';
GRANT SELECT ON billing_v2.subscriptions TO 'tandem_catalog'@'%';
GRANT SELECT ON billing_v2.subscription_usage TO 'tandem_catalog'@'%';

-- tandem-migrator: its own control tables (migrator_batches,
-- migrator_items, migrator_active_customers, migrator_batch_requests,
-- migrator_replica_load, created at start-up, and the
-- shared schema-migrations record); the customer-owned tables of both billing
-- databases (read and written: a move writes the target and marks the
-- customer exported on the source, a rollback writes the source); the
-- reference tables it maps ids through, read-only; and its bookkeeping
-- database on each billing server (the id map and the tail's baseline,
-- committed with the data they describe).
GRANT SELECT, INSERT, UPDATE, DELETE, CREATE, ALTER, INDEX ON tandem_control.migrator_batches TO 'tandem_migrator'@'%';
GRANT SELECT, INSERT, UPDATE, DELETE, CREATE, ALTER, INDEX ON tandem_control.migrator_items TO 'tandem_migrator'@'%';
GRANT SELECT, INSERT, UPDATE, DELETE, CREATE, ALTER, INDEX ON tandem_control.migrator_active_customers TO 'tandem_migrator'@'%';
GRANT SELECT, INSERT, UPDATE, DELETE, CREATE, ALTER, INDEX ON tandem_control.migrator_batch_requests TO 'tandem_migrator'@'%';
GRANT SELECT, INSERT, UPDATE, DELETE, CREATE, ALTER, INDEX ON tandem_control.migrator_replica_load TO 'tandem_migrator'@'%';
GRANT SELECT, INSERT, UPDATE, CREATE ON tandem_control.tandem_schema_migrations TO 'tandem_migrator'@'%';
GRANT SELECT, INSERT, UPDATE, DELETE, CREATE ON tandem_migrator.* TO 'tandem_migrator'@'%';
GRANT SELECT, INSERT, UPDATE, DELETE ON billing_v1.customers TO 'tandem_migrator'@'%';
GRANT SELECT, INSERT, UPDATE, DELETE ON billing_v1.accounts TO 'tandem_migrator'@'%';
GRANT SELECT, INSERT, UPDATE, DELETE ON billing_v1.subscriptions TO 'tandem_migrator'@'%';
GRANT SELECT, INSERT, UPDATE, DELETE ON billing_v1.subscription_usage TO 'tandem_migrator'@'%';
GRANT SELECT, INSERT, UPDATE, DELETE ON billing_v1.xdrs TO 'tandem_migrator'@'%';
GRANT SELECT, INSERT, UPDATE, DELETE ON billing_v1.balance_transactions TO 'tandem_migrator'@'%';
GRANT SELECT, INSERT, UPDATE, DELETE ON billing_v1.invoices TO 'tandem_migrator'@'%';
GRANT SELECT, INSERT, UPDATE, DELETE ON billing_v1.payment_methods TO 'tandem_migrator'@'%';
GRANT SELECT, INSERT, UPDATE, DELETE ON billing_v1.portal_sessions TO 'tandem_migrator'@'%';
GRANT SELECT, INSERT, UPDATE, DELETE ON billing_v1.api_tokens TO 'tandem_migrator'@'%';
GRANT SELECT ON billing_v1.products TO 'tandem_migrator'@'%';
GRANT SELECT ON billing_v1.product_resources TO 'tandem_migrator'@'%';
GRANT SELECT ON billing_v1.product_addons TO 'tandem_migrator'@'%';
GRANT SELECT ON billing_v1.resource_types TO 'tandem_migrator'@'%';
GRANT SELECT ON billing_v1.resource_classes TO 'tandem_migrator'@'%';
GRANT SELECT ON billing_v1.payment_systems TO 'tandem_migrator'@'%';
GRANT SELECT, INSERT, UPDATE, DELETE ON billing_v2.customers TO 'tandem_migrator'@'%';
GRANT SELECT, INSERT, UPDATE, DELETE ON billing_v2.customer_contacts TO 'tandem_migrator'@'%';
GRANT SELECT, INSERT, UPDATE, DELETE ON billing_v2.accounts TO 'tandem_migrator'@'%';
GRANT SELECT, INSERT, UPDATE, DELETE ON billing_v2.account_service_settings TO 'tandem_migrator'@'%';
GRANT SELECT, INSERT, UPDATE, DELETE ON billing_v2.subscriptions TO 'tandem_migrator'@'%';
GRANT SELECT, INSERT, UPDATE, DELETE ON billing_v2.subscription_usage TO 'tandem_migrator'@'%';
GRANT SELECT, INSERT, UPDATE, DELETE ON billing_v2.cdrs TO 'tandem_migrator'@'%';
GRANT SELECT, INSERT, UPDATE, DELETE ON billing_v2.balance_transactions TO 'tandem_migrator'@'%';
GRANT SELECT, INSERT, UPDATE, DELETE ON billing_v2.invoices TO 'tandem_migrator'@'%';
GRANT SELECT, INSERT, UPDATE, DELETE ON billing_v2.payment_methods TO 'tandem_migrator'@'%';
GRANT SELECT, INSERT, UPDATE, DELETE ON billing_v2.portal_sessions TO 'tandem_migrator'@'%';
GRANT SELECT, INSERT, UPDATE, DELETE ON billing_v2.api_tokens TO 'tandem_migrator'@'%';
GRANT SELECT ON billing_v2.products TO 'tandem_migrator'@'%';
GRANT SELECT ON billing_v2.product_resources TO 'tandem_migrator'@'%';
GRANT SELECT ON billing_v2.product_addons TO 'tandem_migrator'@'%';
GRANT SELECT ON billing_v2.resource_types TO 'tandem_migrator'@'%';
GRANT SELECT ON billing_v2.resource_classes TO 'tandem_migrator'@'%';
GRANT SELECT ON billing_v2.payment_systems TO 'tandem_migrator'@'%';
-- No replication grant: the migrator's change capture reads the customer's
-- rows (server-side hashes), not the binlog (migrator/README.md).
