-- Billing platform, schema version 1 (the SOURCE system).
--
-- A PortaSwitch-like data model: PortaBilling's naming habits (i_<entity>
-- surrogate keys, `id` as the account's phone number), money as DECIMAL,
-- statuses as strings, a customer's contact data inline, an account's
-- service settings in one JSON column, and call records in `xdrs` with
-- durations in whole seconds. See testbed/MAPPING.md for how every table and
-- column maps to version 2.
--
-- Foreign keys are documented in comments but not declared: the bulk loader
-- and the migrator write tables in their own order, as the real platform's
-- replication tools do.
--
-- Statements are separated by a semicolon at the end of a line; no semicolon
-- appears anywhere else (the loader splits on them).

CREATE TABLE IF NOT EXISTS resource_classes (
  i_resource_class INT UNSIGNED NOT NULL PRIMARY KEY,
  name VARCHAR(64) NOT NULL,
  UNIQUE KEY uk_name (name)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE IF NOT EXISTS resource_types (
  i_resource_type INT UNSIGNED NOT NULL PRIMARY KEY,
  code VARCHAR(64) NOT NULL,
  name VARCHAR(128) NOT NULL,
  i_resource_class INT UNSIGNED NOT NULL,      -- resource_classes
  unit VARCHAR(16) NOT NULL,
  UNIQUE KEY uk_code (code)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE IF NOT EXISTS payment_systems (
  i_payment_system INT UNSIGNED NOT NULL PRIMARY KEY,
  name VARCHAR(64) NOT NULL,
  UNIQUE KEY uk_name (name)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

-- The product catalog. `code` is the business key shared by both versions;
-- i_product is local to this system.
CREATE TABLE IF NOT EXISTS products (
  i_product INT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  code VARCHAR(64) NOT NULL,
  name VARCHAR(128) NOT NULL,
  category VARCHAR(32) NOT NULL,
  contract_pool VARCHAR(64) NOT NULL,
  is_addon TINYINT(1) NOT NULL DEFAULT 0,
  monthly_fee DECIMAL(13,5) NOT NULL,
  iso_4217 CHAR(3) NOT NULL,
  activation_params JSON NOT NULL,             -- {"param": "value", ...}
  last_changed DATETIME(3) NOT NULL,
  UNIQUE KEY uk_code (code)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

-- Resource limits of a product. A limit of 0 means "not provided".
CREATE TABLE IF NOT EXISTS product_resources (
  i_product INT UNSIGNED NOT NULL,             -- products
  i_resource_type INT UNSIGNED NOT NULL,       -- resource_types
  max_amount BIGINT NOT NULL,
  PRIMARY KEY (i_product, i_resource_type)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

-- Add-ons (bolt-ons) a product may carry.
CREATE TABLE IF NOT EXISTS product_addons (
  i_product INT UNSIGNED NOT NULL,             -- products
  i_addon INT UNSIGNED NOT NULL,               -- products (is_addon = 1)
  PRIMARY KEY (i_product, i_addon)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

-- status: 'open' | 'suspended' | 'closed' | 'exported' (moved to the other
-- system; its own tools no longer change it).
-- bill_cycle: 'monthly' | 'weekly' | 'daily'.
CREATE TABLE IF NOT EXISTS customers (
  i_customer BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  login VARCHAR(64) NOT NULL,
  password_hash VARCHAR(160) NOT NULL,
  companyname VARCHAR(128) NOT NULL,
  email VARCHAR(128) NOT NULL,
  phone1 VARCHAR(32) NOT NULL,
  baddr1 VARCHAR(255) NOT NULL,
  balance DECIMAL(13,5) NOT NULL DEFAULT 0,
  credit_limit DECIMAL(13,5) NOT NULL DEFAULT 0,
  iso_4217 CHAR(3) NOT NULL,
  i_payment_system INT UNSIGNED NOT NULL,      -- payment_systems
  bill_cycle VARCHAR(16) NOT NULL,
  status VARCHAR(16) NOT NULL,
  creation_date DATETIME NOT NULL,
  UNIQUE KEY uk_login (login),
  KEY k_payment_system (i_payment_system)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

-- status: 'active' | 'blocked' | 'closed'.
-- service_settings: a JSON object of string values, e.g.
-- {"voicemail": "on", "language": "en", "call_forwarding": "+4930..."}.
CREATE TABLE IF NOT EXISTS accounts (
  i_account BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  id VARCHAR(32) NOT NULL,                     -- the phone number
  i_customer BIGINT UNSIGNED NOT NULL,         -- customers
  i_product INT UNSIGNED NOT NULL,             -- products
  balance DECIMAL(13,5) NOT NULL DEFAULT 0,
  status VARCHAR(16) NOT NULL,
  service_settings JSON NOT NULL,
  creation_date DATETIME NOT NULL,
  UNIQUE KEY uk_id (id),
  KEY k_customer (i_customer, i_account),
  KEY k_product (i_product)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

-- One row per product a customer is subscribed to (the account's main
-- product, and add-ons). status: 'active' | 'pending' | 'closed'.
CREATE TABLE IF NOT EXISTS subscriptions (
  i_subscription BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  i_customer BIGINT UNSIGNED NOT NULL,         -- customers
  i_account BIGINT UNSIGNED NOT NULL,          -- accounts
  i_product INT UNSIGNED NOT NULL,             -- products
  is_addon TINYINT(1) NOT NULL DEFAULT 0,
  status VARCHAR(16) NOT NULL,
  start_date DATE NOT NULL,
  KEY k_customer (i_customer),
  KEY k_account (i_account),
  KEY k_product (i_product)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

-- Current usage of each resource of a subscription.
CREATE TABLE IF NOT EXISTS subscription_usage (
  i_subscription BIGINT UNSIGNED NOT NULL,     -- subscriptions
  i_resource_type INT UNSIGNED NOT NULL,       -- resource_types
  used_amount BIGINT NOT NULL,
  PRIMARY KEY (i_subscription, i_resource_type)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

-- Call and usage records. duration: whole seconds.
CREATE TABLE IF NOT EXISTS xdrs (
  i_xdr BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  i_account BIGINT UNSIGNED NOT NULL,          -- accounts
  i_customer BIGINT UNSIGNED NOT NULL,         -- customers
  connect_time DATETIME NOT NULL,
  duration INT UNSIGNED NOT NULL,
  charged_amount DECIMAL(13,5) NOT NULL,
  CLI VARCHAR(32) NOT NULL,
  CLD VARCHAR(32) NOT NULL,
  KEY k_account_time (i_account, connect_time, i_xdr),
  KEY k_customer (i_customer)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

-- Balance changes: charges, top-ups, adjustments, refunds. amount is signed
-- (a charge is negative). i_account is NULL for customer-level changes.
-- An account's balance is the sum of its transactions, a customer's balance
-- the sum of its customer-level ones; 'opening' is the balance brought
-- forward when the account or customer was created.
CREATE TABLE IF NOT EXISTS balance_transactions (
  i_transaction BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  i_customer BIGINT UNSIGNED NOT NULL,         -- customers
  i_account BIGINT UNSIGNED NULL,              -- accounts
  amount DECIMAL(13,5) NOT NULL,
  tx_type VARCHAR(16) NOT NULL,                -- 'opening' 'charge' 'topup' 'adjustment' 'refund'
  tx_time DATETIME NOT NULL,
  KEY k_customer (i_customer, i_transaction)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

-- status: 'open' | 'paid' | 'overdue' | 'void'.
CREATE TABLE IF NOT EXISTS invoices (
  i_invoice BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  i_customer BIGINT UNSIGNED NOT NULL,         -- customers
  period_from DATE NOT NULL,
  period_to DATE NOT NULL,
  amount_due DECIMAL(13,5) NOT NULL,
  status VARCHAR(16) NOT NULL,
  issue_date DATETIME NOT NULL,
  KEY k_customer (i_customer, i_invoice)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

-- method: 'card' | 'direct_debit' | 'paypal'.
CREATE TABLE IF NOT EXISTS payment_methods (
  i_payment_method BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  i_customer BIGINT UNSIGNED NOT NULL,         -- customers
  payment_method VARCHAR(16) NOT NULL,
  number_masked VARCHAR(32) NOT NULL,
  exp_date DATE NULL,
  is_default TINYINT(1) NOT NULL DEFAULT 0,
  KEY k_customer (i_customer)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

-- Self-care portal sessions, shared by every portal server. Only the
-- SHA-256 (hex) of the cookie value is stored.
CREATE TABLE IF NOT EXISTS portal_sessions (
  session_hash CHAR(64) NOT NULL PRIMARY KEY,
  i_customer BIGINT UNSIGNED NOT NULL,         -- customers
  created DATETIME NOT NULL,
  expires DATETIME NOT NULL,
  KEY k_customer (i_customer)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

-- API tokens (bearer). Only the SHA-256 (hex) of the token is stored.
CREATE TABLE IF NOT EXISTS api_tokens (
  token_hash CHAR(64) NOT NULL PRIMARY KEY,
  i_customer BIGINT UNSIGNED NOT NULL,         -- customers
  description VARCHAR(64) NOT NULL,
  created DATETIME NOT NULL,
  expires DATETIME NULL,
  KEY k_customer (i_customer)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
