-- Lifetime value per customer: everything they ordered and did not cancel.
select
    c.customer_id,
    c.email,
    c.country,
    min(o.order_date) as first_order_date,
    max(o.order_date) as last_order_date,
    count(o.order_id) as orders,
    cast(coalesce(sum(o.amount), 0) as decimal(18, 2)) as lifetime_value
from {{ source('silver', 'customers') }} as c
left join {{ source('silver', 'orders') }} as o
    on o.customer_id = c.customer_id and o.status <> 'cancelled'
group by c.customer_id, c.email, c.country
